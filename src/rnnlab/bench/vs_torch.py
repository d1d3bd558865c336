"""rnnlab's unrolls against PyTorch's own recurrent modules (``<family>_<variant>_vs_torch``).

Each benchmark times one training step (forward, ``y.sum().backward()``) of an rnnlab
layer (the numerator) and of the ``torch.nn`` module it should match (the denominator),
on CPU, with the same weights and the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from rnnlab.bench.timing import BenchResult, compare, timing_config, train_step
from rnnlab.cells import ElmanCell, GRUCell, LSTMCell
from rnnlab.cells.fused_layout import FusedLayoutCell
from rnnlab.layers import Recurrent

DEFAULT_SIZES: dict[str, int] = {"B": 64, "T": 200, "D": 32, "H": 256}
QUICK_SIZES: dict[str, int] = {"B": 4, "T": 8, "D": 3, "H": 8}


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
VS_TORCH_BENCHES = tuple(
    f"{family}_{variant}_vs_torch" for family in _FAMILIES for variant in _VARIANTS
)


def run_vs_torch(name: str, sizes: dict[str, int], repeats: int) -> BenchResult:
    family_name, variant = name.split("_")[:2]
    family, fast = _FAMILIES[family_name], _VARIANTS[variant]
    B, T, D, H = sizes["B"], sizes["T"], sizes["D"], sizes["H"]
    cell = family.cell(D, H)
    ours = Recurrent(cell, fast=fast)
    theirs = family.torch_module(D, H)
    theirs.load_state_dict({k: v.detach().clone() for k, v in cell.fused_weights().items()})
    x = torch.randn(B, T, D)
    num_s, den_s = compare(train_step(ours, x), train_step(theirs, x), repeats)
    config = timing_config(sizes, repeats)
    return BenchResult(
        name=name,
        ratio=num_s / den_s,
        numerator=f"rnnlab Recurrent({family.cell_label}, fast={fast})",
        denominator=family.torch_label,
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )
