"""Speed benchmarks: rnnlab's unrolls against PyTorch's own recurrent modules, as ratios.

Each benchmark times one training step (forward, ``y.sum().backward()``) of an rnnlab
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

Example::

    from rnnlab.bench import format_table, run_benchmarks
    print(format_table(run_benchmarks(select="lstm")))
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.bench_seq2seq import (
    BEAM_BENCH,
    TRAIN_BENCH,
    beam_benchmark,
    multi30k_sources,
    train_benchmark,
)
from rnnlab.cells import Cell, ClockworkCell, ElmanCell, GRUCell, LSTMCell, URNNCell
from rnnlab.cells.fused_layout import FusedLayoutCell
from rnnlab.layers import Recurrent

DEFAULT_SIZES: dict[str, int] = {"B": 64, "T": 200, "D": 32, "H": 256}
QUICK_SIZES: dict[str, int] = {"B": 4, "T": 8, "D": 3, "H": 8}
WARMUP = 2
CLOCKWORK_BENCH = "clockwork_vs_dense_elman"
URNN_BENCH = "urnn_vs_dense_elman"
STRUCTURED_BENCHES = (CLOCKWORK_BENCH, URNN_BENCH)
STRUCTURED_SIZES: dict[str, int] = {"B": 64, "T": 256, "D": 32, "H": 1024, "modules": 8}
SAMPLING_BENCH = "lm_sampling_carried_vs_recompute"
SAMPLING_SIZES: dict[str, int] = {"V": 65, "E": 512, "H": 512, "layers": 2, "tokens": 1000}
SAMPLING_QUICK_SIZES: dict[str, int] = {"V": 11, "E": 8, "H": 8, "layers": 2, "tokens": 12}
STRUCTURED_QUICK_SIZES: dict[str, int] = {"B": 4, "T": 8, "D": 3, "H": 16, "modules": 8}
SEQ2SEQ_BENCHES = (BEAM_BENCH, TRAIN_BENCH)  # in rnnlab.bench_seq2seq


@dataclass
class BenchResult:
    """One comparison: ``ratio = numerator_s / denominator_s``; above 1, rnnlab is slower."""

    name: str
    ratio: float
    numerator: str  # what was timed on top (rnnlab)
    denominator: str  # the baseline (torch)
    numerator_s: float  # seconds per forward+backward, median over repeats
    denominator_s: float
    config: dict[str, Any]


@dataclass(frozen=True)
class _Family:
    cell: Callable[[int, int], FusedLayoutCell]  # (D, H) -> cell
    cell_label: str
    torch_module: Callable[[int, int], nn.RNNBase]  # (D, H) -> torch module
    torch_label: str


_FAMILIES: dict[str, _Family] = {
    "lstm": _Family(
        LSTMCell, "LSTMCell", lambda d, h: nn.LSTM(d, h, batch_first=True), "torch.nn.LSTM"
    ),
    "gru": _Family(GRUCell, "GRUCell", lambda d, h: nn.GRU(d, h, batch_first=True), "torch.nn.GRU"),
    "elman": _Family(
        ElmanCell,
        "ElmanCell(tanh)",
        lambda d, h: nn.RNN(d, h, nonlinearity="tanh", batch_first=True),
        "torch.nn.RNN(tanh)",
    ),
}
_VARIANTS: dict[str, bool] = {"generic": False, "fast": True}  # name part -> Recurrent(fast=)


def benchmark_names() -> list[str]:
    """Every benchmark, in the order :func:`run_benchmarks` runs them."""
    pairs = [f"{family}_{variant}_vs_torch" for family in _FAMILIES for variant in _VARIANTS]
    return [*pairs, *STRUCTURED_BENCHES, SAMPLING_BENCH, *SEQ2SEQ_BENCHES]


def _train_step(module: nn.Module, x: Tensor) -> Callable[[], None]:
    """One forward and backward pass of ``module`` on ``x``, gradients reset each time."""
    params = list(module.parameters())

    def run() -> None:
        for p in params:
            p.grad = None
        y, _ = module(x)
        y.sum().backward()

    return run


def _seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    numerator: Callable[[], None],
    denominator: Callable[[], None],
    repeats: int,
    warmup: int = WARMUP,
) -> tuple[float, float]:
    """Median seconds of ``numerator`` and ``denominator`` over interleaved runs."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        numerator()
        denominator()
    num: list[float] = []
    den: list[float] = []
    for r in range(repeats):
        if r % 2 == 0:
            num.append(_seconds(numerator))
            den.append(_seconds(denominator))
        else:
            den.append(_seconds(denominator))
            num.append(_seconds(numerator))
    return statistics.median(num), statistics.median(den)


def _timing_config(sizes: dict[str, int], repeats: int) -> dict[str, Any]:
    """What a result was measured under, stored beside its ratio."""
    return {
        **sizes,
        "device": "cpu",
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "warmup": WARMUP,
        "statistic": "median",
        "pass": "forward+backward",
        "torch": torch.__version__,
    }


def _run_one(name: str, sizes: dict[str, int], repeats: int) -> BenchResult:
    family_name, variant = name.split("_")[:2]
    family, fast = _FAMILIES[family_name], _VARIANTS[variant]
    B, T, D, H = sizes["B"], sizes["T"], sizes["D"], sizes["H"]
    cell = family.cell(D, H)
    ours = Recurrent(cell, fast=fast)
    theirs = family.torch_module(D, H)
    theirs.load_state_dict({k: v.detach().clone() for k, v in cell.fused_weights().items()})
    x = torch.randn(B, T, D)
    num_s, den_s = compare(_train_step(ours, x), _train_step(theirs, x), repeats)
    config = _timing_config(sizes, repeats)
    return BenchResult(
        name=name,
        ratio=num_s / den_s,
        numerator=f"rnnlab Recurrent({family.cell_label}, fast={fast})",
        denominator=family.torch_label,
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )


def _structured_cell(name: str, D: int, H: int, g: int) -> tuple[Cell, str]:
    if name == CLOCKWORK_BENCH:
        cell = ClockworkCell(D, H, num_modules=g)  # periods 1, 2, ..., 2^(g-1)
        return cell, f"ClockworkCell(H={H}, {g} modules, periods 1..{cell.periods[-1]})"
    return URNNCell(D, H), f"URNNCell(N={H} complex units)"


def _run_structured(name: str, quick: bool, repeats: int) -> BenchResult:
    """A structured cell (clockwork, uRNN) vs a dense tanh RNN of the same size, both
    through rnnlab's step loop: the structure must really save work."""
    sizes = STRUCTURED_QUICK_SIZES if quick else STRUCTURED_SIZES
    B, T, D, H, g = sizes["B"], sizes["T"], sizes["D"], sizes["H"], sizes["modules"]
    cell, label = _structured_cell(name, D, H, g)
    structured = Recurrent(cell)
    dense = Recurrent(ElmanCell(D, H), fast=False)
    x = torch.randn(B, T, D)
    num_s, den_s = compare(_train_step(structured, x), _train_step(dense, x), repeats)
    config = _timing_config(sizes, repeats)
    if isinstance(cell, ClockworkCell):
        config["periods"] = list(cell.periods)
    return BenchResult(
        name=name,
        ratio=num_s / den_s,
        numerator=f"rnnlab Recurrent({label})",
        denominator=f"rnnlab Recurrent(ElmanCell(H={H}, tanh), fast=False)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )


def _run_sampling(quick: bool) -> BenchResult:
    """Generating ``tokens`` tokens from a 2-layer LSTM language model: one step at a time
    with the state carried (``LanguageModel.step``) vs re-reading the whole prefix at every
    step, as a model without a recurrent state (or a Transformer without a KV cache) must.
    Greedy decoding, so both produce the same tokens (checked). One warm-up and one timed
    run per side, whatever ``run_benchmarks``' ``repeats`` (recomputing takes over a minute).
    """
    from rnnlab.decoding import greedy
    from rnnlab.layers.build import build_layers
    from rnnlab.models.language import LanguageModel

    sizes = SAMPLING_QUICK_SIZES if quick else SAMPLING_SIZES
    V, E, H, L, n = sizes["V"], sizes["E"], sizes["H"], sizes["layers"], sizes["tokens"]
    model = LanguageModel(V, build_layers("lstm", E, H, num_layers=L)).eval()
    start = torch.zeros(1, dtype=torch.long)
    produced: dict[str, Tensor] = {}

    def carried() -> None:
        with torch.no_grad():
            produced["carried"] = greedy(model.step, None, start, n)[0]

    def recompute() -> None:
        tokens = [int(start)]
        with torch.no_grad():
            for _ in range(n):
                logits = model(torch.tensor([tokens]))  # (1, t, V): the whole prefix again
                tokens.append(int(logits[0, -1].argmax()))
        produced["recompute"] = torch.tensor(tokens[1:])

    # the recomputing side takes over a minute a run at full size: one warm-up, one timed run
    num_s, den_s = compare(carried, recompute, 1, warmup=1)
    if not torch.equal(produced["carried"], produced["recompute"]):
        raise RuntimeError("carried-state and recomputed greedy decoding disagree")
    config = _timing_config(sizes, 1)
    config["warmup"] = 1
    config["pass"] = "generation (no gradient)"
    config["tokens_per_s_carried"] = n / num_s
    config["tokens_per_s_recompute"] = n / den_s
    return BenchResult(
        name=SAMPLING_BENCH,
        ratio=num_s / den_s,
        numerator=f"LanguageModel.step, state carried ({n} tokens, {n / num_s:.0f} tok/s)",
        denominator=f"recompute the prefix every token ({n / den_s:.0f} tok/s)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )


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
    sizes = QUICK_SIZES if quick else DEFAULT_SIZES
    beam_sources = multi30k_sources(data) if data is not None and BEAM_BENCH in names else None
    previous_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return [
                _run_structured(name, quick, repeats)
                if name in STRUCTURED_BENCHES
                else _run_sampling(quick)
                if name == SAMPLING_BENCH
                else beam_benchmark(repeats, quick, sources=beam_sources)
                if name == BEAM_BENCH
                else train_benchmark(repeats, quick)
                if name == TRAIN_BENCH
                else _run_one(name, sizes, repeats)
                for name in names
            ]
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
