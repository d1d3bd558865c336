"""The benchmarks by name (:data:`BENCHMARKS`), and running and tabulating them."""

from __future__ import annotations

import torch

from rnnlab.bench.beam import BEAM_BENCH, beam_benchmark, multi30k_sources
from rnnlab.bench.charlm import CHARLM_BENCH, run_charlm_step
from rnnlab.bench.ggnn import GGNN_BENCH, run_ggnn_step
from rnnlab.bench.memn2n import MEMN2N_BENCH, run_memn2n_step
from rnnlab.bench.ntm import NTM_BENCH, run_ntm
from rnnlab.bench.sampling import SAMPLING_BENCH, run_sampling
from rnnlab.bench.scan import run_scan_cell, scan_bench_names
from rnnlab.bench.seq2seq import TRAIN_BENCH, train_benchmark
from rnnlab.bench.structured import CLOCKWORK_BENCH, URNN_BENCH, run_structured
from rnnlab.bench.timing import BenchFn, BenchResult, BenchSettings
from rnnlab.bench.transformer import (
    KV_CACHE_BENCH,
    TRAIN_STEP_BENCH,
    run_kv_cache,
    run_train_step,
)
from rnnlab.bench.vs_torch import DEFAULT_SIZES, QUICK_SIZES, VS_TORCH_BENCHES, run_vs_torch


def _vs_torch(name: str) -> BenchFn:
    return lambda s: run_vs_torch(name, QUICK_SIZES if s.quick else DEFAULT_SIZES, s.repeats)


def _scan_cell(name: str) -> BenchFn:
    return lambda s: run_scan_cell(name, s.quick, s.repeats)


# name -> benchmark, in the order `rnnlab bench` runs them (`--select` filters the names)
BENCHMARKS: dict[str, BenchFn] = {
    **{name: _vs_torch(name) for name in VS_TORCH_BENCHES},
    CLOCKWORK_BENCH: lambda s: run_structured(CLOCKWORK_BENCH, s.quick, s.repeats),
    URNN_BENCH: lambda s: run_structured(URNN_BENCH, s.quick, s.repeats),
    SAMPLING_BENCH: lambda s: run_sampling(s.quick),
    BEAM_BENCH: lambda s: beam_benchmark(s.repeats, s.quick, sources=s.beam_sources),
    TRAIN_BENCH: lambda s: train_benchmark(s.repeats, s.quick),
    CHARLM_BENCH: lambda s: run_charlm_step(s.quick, s.repeats),
    KV_CACHE_BENCH: lambda s: run_kv_cache(s.quick, s.repeats),
    TRAIN_STEP_BENCH: lambda s: run_train_step(s.quick, s.repeats),
    MEMN2N_BENCH: lambda s: run_memn2n_step(s.quick, s.repeats),
    GGNN_BENCH: lambda s: run_ggnn_step(s.quick, s.repeats),
    NTM_BENCH: lambda s: run_ntm(s.quick, s.repeats),
    # scan cells: the dispatched scan against the same cell's step loop (issue 15)
    **{name: _scan_cell(name) for name in scan_bench_names()},
}


def benchmark_names() -> list[str]:
    """Every benchmark, in the order :func:`run_benchmarks` runs them."""
    return list(BENCHMARKS)


def run_benchmarks(
    select: str | None = None,
    repeats: int = 5,
    quick: bool = False,
    *,
    threads: int | None = 1,
    data: str | None = None,
) -> list[BenchResult]:
    """Run the benchmarks whose name contains ``select`` (all by default).

    Args:
        select: substring filter on :func:`benchmark_names`.
        repeats: timed runs per side (after the warm-up); each side reports their median.
        quick: tiny sizes, for tests (the ratios then mean little).
        data: a Multi30k folder: ``beam_batched_vs_one_at_a_time`` decodes its
            validation sentences (``val.en``) instead of the generated ``reverse`` ones.
        threads: torch intra-op threads while timing (restored afterwards); ``None`` keeps
            the current setting. One by default: on a shared machine, multi-threaded
            timings are dominated by other jobs (on a busy 2-core machine, two threads
            gave ``fast`` ratios from 0.5x to 0.8x for the very same kernel, one thread
            gave 0.97x to 1.01x).

    Default sizes: ``B=64, T=200, D=32, H=256``; ``clockwork_vs_dense_elman`` and
    ``urnn_vs_dense_elman``: ``B=64, T=256, D=32, H=1024``. The caller's random state is left alone.
    """
    names = [n for n in benchmark_names() if select is None or select in n]
    if not names:
        raise ValueError(
            f"no benchmark matches {select!r}; expected a part of one of "
            f"{', '.join(benchmark_names())}"
        )
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    beam_sources = multi30k_sources(data) if data is not None and BEAM_BENCH in names else None
    settings = BenchSettings(repeats=repeats, quick=quick, beam_sources=beam_sources)
    previous_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return [BENCHMARKS[name](settings) for name in names]
    finally:
        torch.set_num_threads(previous_threads)


def format_table(results: list[BenchResult]) -> str:
    """A table for humans: one line per benchmark, times in milliseconds."""
    if not results:
        return "no benchmarks ran"
    header = ("benchmark", "ratio", "numerator ms", "denominator ms", "numerator / denominator")
    rows = [
        (
            r.name,
            f"{r.ratio:.2f}x",
            f"{1e3 * r.numerator_s:.1f}",
            f"{1e3 * r.denominator_s:.1f}",
            f"{r.numerator} / {r.denominator} "
            + " ".join(f"{k}={r.config[k]}" for k in ("B", "T", "D", "H") if k in r.config),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {1, 2, 3}

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    c = results[0].config
    title = (
        f"{c.get('device', 'cpu')}, {c.get('pass', 'forward+backward')}, "
        f"{c.get('threads')} threads, {c.get('statistic', 'median')} of {c.get('repeats')} "
        "interleaved runs; ratio = numerator / denominator (sizes in each row), "
        "above 1: the numerator is slower"
    )
    return "\n".join([title, line(header), *(line(row) for row in rows)])
