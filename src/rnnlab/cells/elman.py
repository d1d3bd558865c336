"""Elman (vanilla) RNN cell."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells.fused_layout import FusedLayoutCell


class ElmanState(NamedTuple):
    h: Tensor  # (B, H)


class ElmanCell(FusedLayoutCell):
    r"""Elman RNN cell, the plain recurrence of the lecture.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad y_t = h_t

    with :math:`\phi` = ``tanh`` or ``relu``. Parameters are laid out exactly as in
    ``torch.nn.RNN`` (so the fused kernel runs with them) and initialised as there,
    :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`.

    Args:
        input_size: D, features of ``x_t``.
        hidden_size: H.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: whether to use ``b_ih`` and ``b_hh``.

    Shapes: ``x_t (B, D)``, ``state.h (B, H)`` -> ``y_t (B, H)``.

    Example::

        cell = ElmanCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))
    """

    def __init__(
        self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", bias: bool = True
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.nonlinearity = nonlinearity
        self.fused_mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self._make_params(input_size, hidden_size, gates=1, bias=bias)

    @property
    def uses_fused_kernel(self) -> bool:
        # exactly this class: a subclass may change the step (see FusedLayoutCell)
        return type(self) is ElmanCell

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> ElmanState:
        return ElmanState(self._zeros(batch, device, dtype))

    def step(self, p_t: Tensor, state: ElmanState) -> tuple[Tensor, ElmanState]:
        pre = self._recurrent(p_t, state.h)
        # h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, ElmanState(h)
