"""Speed benchmarks: rnnlab against a baseline measured in the same run, as ratios.

Most benchmarks time one training step (forward, ``y.sum().backward()``) of an rnnlab
layer (the numerator) and of the ``torch.nn`` module it should match (the denominator),
on CPU, with the same weights and the same input. Absolute times on a shared machine drift,
so only the ratio is reported as the result: ``ratio = numerator_s / denominator_s``, and
``ratio > 1`` means rnnlab is slower.

To keep drift from favouring one side, both sides are warmed up, then their runs are
interleaved (A B, B A, A B, ...: alternating which goes first also cancels any effect of
running second) and each side's time is the median of its ``repeats`` runs.

``clockwork_vs_dense_elman`` compares two rnnlab unrolls instead: a Clockwork RNN (8
modules, periods 1..128) against a dense tanh RNN of the same size through the generic
step loop, the saving the skipped modules must deliver (issue 5's target: ratio <= 0.4).

One module per subject: :mod:`~rnnlab.bench.vs_torch` (rnnlab's unrolls vs ``torch.nn``),
:mod:`~rnnlab.bench.structured` (clockwork, uRNN vs a dense RNN),
:mod:`~rnnlab.bench.sampling`, :mod:`~rnnlab.bench.beam`, :mod:`~rnnlab.bench.seq2seq`;
all share :mod:`~rnnlab.bench.timing`, and :data:`BENCHMARKS` in
:mod:`~rnnlab.bench.registry` maps every name to its function.

Example::

    from rnnlab.bench import format_table, run_benchmarks
    print(format_table(run_benchmarks(select="lstm")))
"""

from __future__ import annotations

from rnnlab.bench.registry import BENCHMARKS, benchmark_names, format_table, run_benchmarks
from rnnlab.bench.timing import BenchFn, BenchResult, BenchSettings, compare

__all__ = [
    "BENCHMARKS",
    "BenchFn",
    "BenchResult",
    "BenchSettings",
    "benchmark_names",
    "compare",
    "format_table",
    "run_benchmarks",
]
