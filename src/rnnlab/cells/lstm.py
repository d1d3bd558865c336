"""Long short-term memory cell (Hochreiter & Schmidhuber 1997, with forget gate)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells.base import check_chrono
from rnnlab.cells.fused_layout import FusedLayoutCell


class LSTMState(NamedTuple):
    h: Tensor  # (B, H) output
    c: Tensor  # (B, H) memory cell


class LSTMCell(FusedLayoutCell):
    r"""LSTM cell with a forget gate, gate order ``i, f, g, o`` as in ``torch.nn.LSTM``.

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t), \qquad y_t = h_t
        \end{aligned}

    Weights are initialised as in PyTorch, :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`; biases are
    zero except the forget gate's ``b_if = forget_bias`` (Gers et al. 2000; Jozefowicz et
    al. 2015 recommend 1), so that early in training the cell remembers by default.

    With :meth:`chrono_init_` (Tallec & Ollivier 2018, "Can recurrent neural networks warp
    time?") the forget and input biases are set to :math:`b_f = \log u`, :math:`b_i = -b_f`,
    :math:`u \sim U(1, T_{max} - 1)`, spreading the units' memory time scales over
    :math:`[1, T_{max}]`; it makes long delays (adding, copy) learnable much sooner.

    Args:
        input_size: D.
        hidden_size: H.
        forget_bias: initial value of the forget-gate bias (in ``bias_ih``).
        bias: whether to use biases.

    Shapes: ``x_t (B, D)``, ``state = LSTMState(h (B, H), c (B, H))`` -> ``y_t (B, H)``.

    Example::

        cell = LSTMCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))
    """

    def __init__(
        self, input_size: int, hidden_size: int, forget_bias: float = 1.0, bias: bool = True
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.fused_mode = "LSTM"
        self._make_params(input_size, hidden_size, gates=4, bias=bias)
        if self.bias_ih is not None and self.bias_hh is not None:
            with torch.no_grad():
                self.bias_ih.zero_()
                self.bias_hh.zero_()
                self.bias_ih[hidden_size : 2 * hidden_size].fill_(forget_bias)

    @property
    def uses_fused_kernel(self) -> bool:
        # exactly this class: a subclass may change the step (see FusedLayoutCell)
        return type(self) is LSTMCell

    def chrono_init_(self, max_delay: int, generator: torch.Generator | None = None) -> None:
        """Chrono initialisation for dependencies up to ``max_delay`` steps (in place)."""
        check_chrono(max_delay)
        if self.bias_ih is None or self.bias_hh is None:
            raise ValueError("chrono initialisation needs an LSTM with biases")
        H = self.hidden_size
        with torch.no_grad():
            u = torch.empty(H, dtype=self.bias_ih.dtype).uniform_(
                1, max_delay - 1, generator=generator
            )
            b_f = torch.log(u)
            self.bias_hh[: 2 * H].zero_()
            self.bias_ih[H : 2 * H].copy_(b_f)  # forget gate: b_f = log u
            self.bias_ih[:H].copy_(-b_f)  # input gate: b_i = -b_f

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> LSTMState:
        z = self._zeros(batch, device, dtype)
        return LSTMState(z, z.clone())

    def step(self, p_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        gates = self._recurrent(p_t, state.h)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)
        # c_t = f * c_{t-1} + i * g
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        # h_t = o * tanh(c_t)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, LSTMState(h, c)
