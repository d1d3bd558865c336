"""Structured cells against a dense tanh RNN of the same size, both through rnnlab's step
loop: ``clockwork_vs_dense_elman`` (a Clockwork RNN, 8 modules, periods 1..128: the saving
the skipped modules must deliver, issue 5's target: ratio <= 0.4) and ``urnn_vs_dense_elman``.
"""

from __future__ import annotations

from typing import Any

import torch

from rnnlab.bench.timing import BenchResult, compare, timing_config, train_step
from rnnlab.cells import Cell, ClockworkCell, ElmanCell, URNNCell
from rnnlab.layers import Recurrent

CLOCKWORK_BENCH = "clockwork_vs_dense_elman"
URNN_BENCH = "urnn_vs_dense_elman"
STRUCTURED_SIZES: dict[str, int] = {"B": 64, "T": 256, "D": 32, "H": 1024, "modules": 8}
STRUCTURED_QUICK_SIZES: dict[str, int] = {"B": 4, "T": 8, "D": 3, "H": 16, "modules": 8}


def _structured_cell(name: str, D: int, H: int, g: int) -> tuple[Cell, str, dict[str, Any]]:
    """The cell, its label and what the benchmark's config records of it."""
    if name == CLOCKWORK_BENCH:
        cell = ClockworkCell(D, H, num_modules=g)  # periods 1, 2, ..., 2^(g-1)
        label = f"ClockworkCell(H={H}, {g} modules, periods 1..{cell.periods[-1]})"
        return cell, label, {"periods": list(cell.periods)}
    return URNNCell(D, H), f"URNNCell(N={H} complex units)", {}


def run_structured(name: str, quick: bool, repeats: int) -> BenchResult:
    """A structured cell (clockwork, uRNN) vs a dense tanh RNN of the same size, both
    through rnnlab's step loop: the structure must really save work."""
    sizes = STRUCTURED_QUICK_SIZES if quick else STRUCTURED_SIZES
    B, T, D, H, g = sizes["B"], sizes["T"], sizes["D"], sizes["H"], sizes["modules"]
    cell, label, extra = _structured_cell(name, D, H, g)
    structured = Recurrent(cell)
    dense = Recurrent(ElmanCell(D, H), fast=False)
    x = torch.randn(B, T, D)
    num_s, den_s = compare(train_step(structured, x), train_step(dense, x), repeats)
    config = {**timing_config(sizes, repeats), **extra}
    return BenchResult(
        name=name,
        ratio=num_s / den_s,
        numerator=f"rnnlab Recurrent({label})",
        denominator=f"rnnlab Recurrent(ElmanCell(H={H}, tanh), fast=False)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )
