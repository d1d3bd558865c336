"""Gated recurrent unit cell (Cho et al. 2014), in PyTorch's variant."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells.base import check_chrono
from rnnlab.cells.fused_layout import FusedLayoutCell


class GRUState(NamedTuple):
    h: Tensor  # (B, H)


class GRUCell(FusedLayoutCell):
    r"""GRU cell, gate order ``r, z, n`` as in ``torch.nn.GRU``.

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}, \qquad y_t = h_t
        \end{aligned}

    Notes:
        Cho et al. (2014) apply the reset gate *before* the recurrent matmul,
        :math:`W_{hn}(r_t \odot h_{t-1})`. Like ``torch.nn.GRU`` (and cuDNN) this cell applies
        it *after*, :math:`r_t \odot (W_{hn} h_{t-1} + b_{hn})`, which lets all three
        recurrent matmuls run as one and makes the cell equal to the fused kernel that its
        :meth:`scan` runs.

    With :meth:`chrono_init_` (Tallec & Ollivier 2018) the update gate's bias is
    :math:`b_z = \log u`, :math:`u \sim U(1, T_{max} - 1)` (``z`` weights the old state here),
    spreading the units' memory time scales over :math:`[1, T_{max}]`.

    Args:
        input_size: D.
        hidden_size: H.
        bias: whether to use biases.

    Shapes: ``x_t (B, D)``, ``state = GRUState(h (B, H))`` -> ``y_t (B, H)``.

    Example::

        cell = GRUCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.fused_mode = "GRU"
        self._make_params(input_size, hidden_size, gates=3, bias=bias)

    @property
    def uses_fused_kernel(self) -> bool:
        # exactly this class: a subclass may change the step (see FusedLayoutCell)
        return type(self) is GRUCell

    def chrono_init_(self, max_delay: int, generator: torch.Generator | None = None) -> None:
        """Chrono initialisation for dependencies up to ``max_delay`` steps (in place)."""
        check_chrono(max_delay)
        if self.bias_ih is None or self.bias_hh is None:
            raise ValueError("chrono initialisation needs a GRU with biases")
        H = self.hidden_size
        with torch.no_grad():
            u = torch.empty(H, dtype=self.bias_ih.dtype).uniform_(
                1, max_delay - 1, generator=generator
            )
            self.bias_hh[H : 2 * H].zero_()
            self.bias_ih[H : 2 * H].copy_(torch.log(u))  # update gate: b_z = log u

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> GRUState:
        return GRUState(self._zeros(batch, device, dtype))

    def _input_bias(self) -> Tensor | None:
        # project_input is W_ih x + b_ih; b_hh stays in the step, as b_hn sits inside the
        # reset product
        return self.bias_ih

    def step(self, p_t: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        h_prev = state.h
        x_r, x_z, x_n = p_t.chunk(3, dim=-1)
        if self.bias_hh is None:
            rec = h_prev @ self.weight_hh.t()
        else:
            rec = torch.addmm(self.bias_hh, h_prev, self.weight_hh.t())  # (B, 3H)
        h_r, h_z, h_n = rec.chunk(3, dim=-1)
        reset = torch.sigmoid(x_r + h_r)
        update = torch.sigmoid(x_z + h_z)
        # n_t = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        new = torch.tanh(x_n + reset * h_n)
        # h_t = (1 - z) * n + z * h_{t-1}
        h = new + update * (h_prev - new)
        return h, GRUState(h)
