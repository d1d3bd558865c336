"""Linear scans: the kernels of :func:`rnnlab.cells.linear_scan.linear_scan` measured
against each other (:func:`measure_kernels`, :func:`calibrate`, which writes the dispatch
table), and each scan cell's dispatched ``scan`` against its own step loop
(:func:`run_scan_cell`, the ``BENCHMARKS`` entries ``scan_<cell>_<B>x<H>x<T>``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from rnnlab.bench.timing import BenchResult, compare, timing_config, train_step
from rnnlab.cells import make_cell
from rnnlab.cells.linear_scan import METHODS, linear_scan, log_linear_scan
from rnnlab.cells.scan_table import ScanChoice, write_table
from rnnlab.layers import Recurrent

# (B, width, T) points of the issue; calibration measures M = B * width at each T
SCAN_CELLS = ("mingru", "minlstm", "lru", "s6", "deltanet")
SCAN_CELL_SIZES: tuple[tuple[int, int, int], ...] = ((4, 64, 4096), (16, 256, 1024))
# deltanet at 16 x 256 keeps a 256 x 256 state per row and step for backward (4 GiB)
SKIPPED = {("deltanet", (16, 256, 1024))}
QUICK_SIZE = (2, 8, 32)
# (B, W, T); W = 4096 stands for S6's 256 channels x 16 states
CALIBRATION_POINTS: tuple[tuple[int, int, int], ...] = (
    (4, 64, 256),
    (4, 64, 1024),
    (4, 64, 4096),
    (16, 256, 256),
    (16, 256, 1024),
    (16, 256, 4096),
    (16, 4096, 256),
)
# the informational forms (not dispatched) are left out above this many elements
INFO_LIMIT = 2**25
QUICK_POINTS: tuple[tuple[int, int, int], ...] = ((2, 8, 16), (2, 8, 64))


def scan_bench_names() -> list[str]:
    return [
        f"scan_{c}_{B}x{H}x{T}"
        for c in SCAN_CELLS
        for B, H, T in SCAN_CELL_SIZES
        if (c, (B, H, T)) not in SKIPPED
    ]


def run_scan_cell(name: str, quick: bool, repeats: int) -> BenchResult:
    """``Recurrent(cell)`` (its dispatched ``scan``) against ``Recurrent(cell,
    fast=False)`` (the step loop), forward + backward, input width = ``H``."""
    _, cell_name, size = name.split("_", 2)
    B, H, T = QUICK_SIZE if quick else tuple(int(v) for v in size.split("x"))
    cell = make_cell(cell_name, H, H)
    torch.manual_seed(0)
    fast, loop = Recurrent(cell), Recurrent(cell, fast=False)
    x = torch.randn(B, T, H)
    num_s, den_s = compare(train_step(fast, x), train_step(loop, x), repeats)
    return BenchResult(
        name=name,
        ratio=num_s / den_s,
        numerator=f"Recurrent({cell_name}) scan",
        denominator=f"Recurrent({cell_name}, fast=False) step loop",
        numerator_s=num_s,
        denominator_s=den_s,
        config=timing_config({"B": B, "T": T, "D": H, "H": H}, repeats),
    )


def _autograd_loop(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """The plain autograd loop over ``unbind`` (what a step loop records per step)."""
    h, out = h0, []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out, dim=1)


def _kernel_runs(B: int, W: int, T: int) -> dict[str, Callable[[], None]]:
    """One forward + backward of every form on the same positive ``a``, ``b``."""
    g = torch.Generator().manual_seed(0)
    a = (0.5 + 0.5 * torch.rand(B, T, W, generator=g)).requires_grad_(True)
    b = torch.rand(B, T, W, generator=g).requires_grad_(True)
    h0 = torch.rand(B, W, generator=g).requires_grad_(True)

    def run(fn: Callable[[], Tensor]) -> Callable[[], None]:
        def once() -> None:
            a.grad = b.grad = h0.grad = None
            fn().sum().backward()

        return once

    def kernel(method: str) -> Callable[[], Tensor]:
        return lambda: linear_scan(a, b, h0, method=method)

    runs = {m: run(kernel(m)) for m in METHODS}
    runs["autograd_loop"] = run(lambda: _autograd_loop(a, b, h0))
    runs["log"] = run(lambda: log_linear_scan(a.log(), b.log(), h0.log()))
    return runs


def measure_kernels(
    B: int, W: int, T: int, repeats: int, skip: tuple[str, ...] = ()
) -> dict[str, float]:
    """Median seconds of forward + backward for every form at ``(B, T, W)``; the runs of
    the forms interleaved, each warmed up once."""
    runs = {k: v for k, v in _kernel_runs(B, W, T).items() if k not in skip}
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for k, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def kernel_errors(B: int, W: int, T: int) -> dict[str, float]:
    """Max relative error of each float32 form against the float64 loop."""
    g = torch.Generator().manual_seed(1)
    a = 0.5 + 0.5 * torch.rand(B, T, W, generator=g, dtype=torch.float64)
    b = torch.rand(B, T, W, generator=g, dtype=torch.float64)
    h0 = torch.rand(B, W, generator=g, dtype=torch.float64)
    ref = linear_scan(a, b, h0, method="loop")
    a32, b32, h32 = a.float(), b.float(), h0.float()
    out = {m: linear_scan(a32, b32, h32, method=m) for m in METHODS}
    out["log"] = log_linear_scan(a32.log(), b32.log(), h32.log())
    return {k: float(((v.double() - ref).abs() / ref.abs()).max()) for k, v in out.items()}


def calibrate(
    repeats: int = 3,
    quick: bool = False,
    folder: Path | None = None,
    threads: int | None = 1,
    report: Callable[[dict[str, object]], None] | None = None,
) -> tuple[list[dict[str, object]], Path]:
    """Time every kernel at the calibration points on the CPU (and on CUDA when there is
    one), write the fastest per point as the dispatch table, and return the measurements
    (one row per point and form, in ms; each also given to ``report`` as it is measured)
    and the table's path."""
    points = QUICK_POINTS if quick else CALIBRATION_POINTS
    rows: list[dict[str, object]] = []
    table: list[ScanChoice] = []
    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        for B, W, T in points:
            skip = ("log", "associative") if B * W * T > INFO_LIMIT else ()
            times = measure_kernels(B, W, T, repeats, skip=skip)
            best = min((m for m in METHODS if m in times), key=lambda m: times[m])
            table.append(ScanChoice("cpu", B * W, T, best))
            for k, s in times.items():
                row = {"B": B, "W": W, "T": T, "form": k, "ms": round(1e3 * s, 2)}
                rows.append({**row, "chosen": k == best})
                if report is not None:
                    report(rows[-1])
    finally:
        torch.set_num_threads(previous)
    return rows, write_table(table, folder)


def _no_kernel(a: Tensor, b: Tensor, h0: Tensor, **_: object) -> Tensor:
    """``h_t = a_t h_0 + b_t``: the scan replaced by one elementwise op that still reaches
    ``a``, ``b`` and ``h_0`` (so their backward runs), for :func:`amdahl_bound`."""
    return torch.addcmul(b, a, h0.unsqueeze(1))


def amdahl_bound(cell_name: str, B: int, H: int, T: int, repeats: int = 3) -> dict[str, float]:
    """Why a scan cell's ``scan`` can or cannot be ``k`` times faster than its step loop.

    Median seconds of forward + backward, interleaved, of ``Recurrent(cell)`` (``scan``),
    the same with :func:`~rnnlab.cells.linear_scan.linear_scan` replaced by
    :func:`_no_kernel` (``per_token``: the projection, coefficients, readout and their
    backward, the work any scan must still do), the input projection alone
    (``projection``) and ``Recurrent(cell, fast=False)`` (``loop``). ``bound`` =
    ``loop / per_token``: no scan kernel, however fast, gives a larger ratio.
    """
    from rnnlab.cells import scan_cell

    torch.manual_seed(0)
    cell = make_cell(cell_name, H, H)
    x = torch.randn(B, T, H)
    fast, loop = Recurrent(cell), Recurrent(cell, fast=False)
    real = scan_cell.linear_scan

    def per_token() -> None:
        scan_cell.linear_scan = _no_kernel
        try:
            train_step(fast, x)()
        finally:
            scan_cell.linear_scan = real

    def projection() -> None:
        for p in cell.parameters():
            p.grad = None
        cell.project_input(x).sum().backward()

    runs = {
        "scan": train_step(fast, x),
        "per_token": per_token,
        "projection": projection,
        "loop": train_step(loop, x),
    }
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for k, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["bound"] = out["loop"] / out["per_token"]
    out["ratio"] = out["loop"] / out["scan"]
    return out
