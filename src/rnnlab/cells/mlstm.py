"""Multiplicative LSTM (Krause, Lu, Murray & Renals 2016)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell
from rnnlab.cells.lstm import LSTMState


class MLSTMCell(Cell):
    r"""Multiplicative LSTM: the gates read an input-dependent transform ``m_t`` of
    ``h_{t-1}`` in place of ``h_{t-1}`` itself; gate order ``i, f, g, o`` as in
    :class:`~rnnlab.cells.LSTMCell`.

    .. math::
        \begin{aligned}
        m_t &= (W_{mx} x_t) \odot (W_{mh} h_{t-1}) \\
        i_t &= \sigma(W_{ix} x_t + W_{im} m_t + b_i) \\
        f_t &= \sigma(W_{fx} x_t + W_{fm} m_t + b_f) \\
        g_t &= \tanh(W_{gx} x_t + W_{gm} m_t + b_g) \\
        o_t &= \sigma(W_{ox} x_t + W_{om} m_t + b_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t), \qquad y_t = h_t
        \end{aligned}

    ``W_mx x_t`` and the gates' ``W_x x_t + b`` depend on the input only, so
    :meth:`project_input` computes them for every step at once (``P = 5H``); the step does
    two matmuls, ``W_mh h`` and ``W_m m``. Like an mRNN (:class:`~rnnlab.cells.MRNNCell`)
    each input selects its own recurrent transition, but the LSTM's gated memory keeps it
    trainable with first-order methods.

    Weights are initialised :math:`U(-1/\sqrt{n}, 1/\sqrt{n})` with ``n`` the fan-in; biases
    are zero except the forget gate's, ``forget_bias``.

    Args:
        input_size: D.
        hidden_size: H (also the width of ``m_t``).
        forget_bias: initial value of ``b_f``.
        bias: whether to use ``b``.

    Shapes: ``x_t (B, D)``, ``state = LSTMState(h (B, H), c (B, H))`` -> ``y_t (B, H)``;
    ``weight_mx (H, D)``, ``weight_mh (H, H)``, ``weight_gx (4H, D)``, ``weight_gm (4H, H)``.

    Example::

        cell = MLSTMCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        Krause et al. write the candidate as :math:`\hat h_t = W_{hx} x_t + W_{hm} m_t`
        without a squashing function; this cell squashes it with ``tanh`` (``g_t`` above),
        as :class:`~rnnlab.cells.LSTMCell` and most later mLSTM implementations do, so that
        it differs from the LSTM only in ``m_t``.
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
        H = hidden_size
        self.weight_mx = nn.Parameter(_uniform(H, input_size))
        self.weight_mh = nn.Parameter(_uniform(H, H))
        self.weight_gx = nn.Parameter(_uniform(4 * H, input_size))
        self.weight_gm = nn.Parameter(_uniform(4 * H, H))
        if bias:
            b = torch.zeros(4 * H)
            b[H : 2 * H] = forget_bias
            self.bias: nn.Parameter | None = nn.Parameter(b)
        else:
            self.register_parameter("bias", None)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> LSTMState:
        z = self._zeros(batch, device, dtype)
        return LSTMState(z, z.clone())

    def project_input(self, x: Tensor) -> Tensor:
        # [W_mx x, W_x x + b] for every step at once: (..., D) -> (..., 5H)
        m_in = nn.functional.linear(x, self.weight_mx)
        gates_in = nn.functional.linear(x, self.weight_gx, self.bias)
        return torch.cat([m_in, gates_in], dim=-1)

    def step(self, p_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        m_in, gates_in = p_t.split([self.hidden_size, 4 * self.hidden_size], dim=-1)
        # m_t = (W_mx x_t) * (W_mh h_{t-1})
        m = m_in * (state.h @ self.weight_mh.t())  # (B, H)
        # gates = W_x x_t + W_m m_t + b
        gates = torch.addmm(gates_in, m, self.weight_gm.t())  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)
        # c_t = f * c_{t-1} + i * g
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        # h_t = o * tanh(c_t)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, LSTMState(h, c)


def _uniform(rows: int, fan_in: int) -> Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(rows, fan_in).uniform_(-bound, bound)
