"""Base of the cells that have a PyTorch fused kernel (Elman, LSTM, GRU)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab.cells.base import Cell


class FusedLayoutCell(Cell):
    """A cell whose parameters are laid out as in ``torch.nn.RNN/LSTM/GRU``.

    ``weight_ih (G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)``, ``bias_hh (G*H,)``
    with ``G`` gates, named as PyTorch's layer 0 without the ``_l0`` suffix, so the fused
    kernels run with these very tensors (see :class:`rnnlab.layers.Recurrent`).
    """

    weight_ih: nn.Parameter
    weight_hh: nn.Parameter
    bias_ih: nn.Parameter | None
    bias_hh: nn.Parameter | None

    def _make_params(self, input_size: int, hidden_size: int, gates: int, bias: bool) -> None:
        g = gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(g))
            self.bias_hh = nn.Parameter(torch.empty(g))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        # PyTorch's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -bound, bound)

    def fused_weights(self) -> dict[str, Tensor]:
        """The parameters under ``torch.nn.RNNBase`` names for layer 0."""
        w: dict[str, Tensor] = {"weight_ih_l0": self.weight_ih, "weight_hh_l0": self.weight_hh}
        if self.bias_ih is not None and self.bias_hh is not None:
            w["bias_ih_l0"] = self.bias_ih
            w["bias_hh_l0"] = self.bias_hh
        return w

    def project_input(self, x: Tensor) -> Tensor:
        # W_ih x + (b_ih + b_hh) for every step at once: (..., D) -> (..., G*H)
        bias = None
        if self.bias_ih is not None and self.bias_hh is not None:
            bias = self.bias_ih + self.bias_hh
        return nn.functional.linear(x, self.weight_ih, bias)

    def _recurrent(self, p_t: Tensor, h: Tensor) -> Tensor:
        # p_t + W_hh h_{t-1}, with p_t from project_input: (B, G*H)
        return torch.addmm(p_t, h, self.weight_hh.t())
