"""``ntm_step_vs_controller``: a neural Turing machine step against its controller alone.

The NTM (an LSTM controller of 100 units, N=128 slots of M=20, one read and one write head,
shifts -1..1) and the plain LSTM of 100 units, both through rnnlab's step loop on copy-task
sized inputs (B=32, T=41: a length-20 copy, D=9), forward and backward: the ratio is what
the memory and its addressing cost on top of the controller.
"""

from __future__ import annotations

import torch

from rnnlab.bench.timing import BenchResult, compare, timing_config, train_step
from rnnlab.cells import LSTMCell
from rnnlab.layers import Recurrent
from rnnlab.memory.ntm import NTMCell

NTM_BENCH = "ntm_step_vs_controller"
NTM_SIZES: dict[str, int] = {"B": 32, "T": 41, "D": 9, "H": 100, "N": 128, "M": 20}
NTM_QUICK_SIZES: dict[str, int] = {"B": 2, "T": 4, "D": 3, "H": 8, "N": 6, "M": 4}


def run_ntm(quick: bool, repeats: int) -> BenchResult:
    """The NTM (1 read, 1 write head) vs its LSTM controller alone, both step loops."""
    sizes = NTM_QUICK_SIZES if quick else NTM_SIZES
    B, T, D, H, N, M = (sizes[k] for k in ("B", "T", "D", "H", "N", "M"))
    ntm = Recurrent(NTMCell(LSTMCell(D + M, H), memory_slots=N, memory_width=M))
    lstm = Recurrent(LSTMCell(D, H), fast=False)
    x = torch.randn(B, T, D)
    num_s, den_s = compare(train_step(ntm, x), train_step(lstm, x), repeats)
    return BenchResult(
        name=NTM_BENCH,
        ratio=num_s / den_s,
        numerator=f"rnnlab Recurrent(NTMCell(LSTMCell(H={H}), N={N}, M={M}, 1 read, 1 write))",
        denominator=f"rnnlab Recurrent(LSTMCell(H={H}), fast=False)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=timing_config(sizes, repeats),
    )
