r"""Multiplicative integration (Wu, Zhang, Zhang, Bengio & Salakhutdinov 2016).

Every gate's pre-activation :math:`W x + U h + b` becomes

.. math::
    \alpha \odot (W x) \odot (U h) + \beta_1 \odot (U h) + \beta_2 \odot (W x) + b

with per-unit vectors :math:`\alpha, \beta_1, \beta_2` for every gate: the input rescales
the recurrent contribution unit by unit (a diagonal, input-dependent transition, like the
mRNN's but without extra matmuls). With :math:`\alpha = 0, \beta_1 = \beta_2 = 1` it is the
additive cell again.

The cells here subclass :class:`~rnnlab.cells.ElmanCell`, :class:`~rnnlab.cells.LSTMCell`
and :class:`~rnnlab.cells.GRUCell` and keep their parameters (``weight_ih``, ``weight_hh``,
``bias_ih``, ``bias_hh``) and gate order, adding ``alpha``, ``beta1``, ``beta2`` of shape
``(G*H,)``. Their maths is not the fused kernels', so ``fused_mode`` is ``None`` (and
``uses_fused_kernel`` is true only for the exact plain classes anyway): their
:meth:`~rnnlab.cells.Cell.scan` is the step loop.

The input-only parts are hoisted: ``project_input`` returns
``[alpha * W x + beta1, beta2 * W x + b]`` (``P = 2GH``), and the step is one matmul and
one fused multiply-add, ``(U h) * scale + shift``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.cells.elman import ElmanCell
from rnnlab.cells.fused_layout import FusedLayoutCell
from rnnlab.cells.gru import GRUCell, GRUState
from rnnlab.cells.lstm import LSTMCell


class _MultiplicativeIntegration(FusedLayoutCell):
    """Shared parameters and hoisting of the multiplicative-integration cells."""

    alpha: nn.Parameter
    beta1: nn.Parameter
    beta2: nn.Parameter

    def _init_mi(self, gates: int) -> None:
        g = gates * self.hidden_size
        self.alpha = nn.Parameter(torch.ones(g))
        self.beta1 = nn.Parameter(torch.ones(g))
        self.beta2 = nn.Parameter(torch.ones(g))
        self.fused_mode = None  # not the maths of any fused kernel

    def _mi_bias(self) -> Tensor | None:
        """``b`` of the formula: the additive bias of every gate."""
        if self.bias_ih is None or self.bias_hh is None:
            return None
        return self.bias_ih + self.bias_hh

    def project_input(self, x: Tensor) -> Tensor:
        wx = nn.functional.linear(x, self.weight_ih)  # (..., G*H)
        # alpha * Wx + beta1 multiplies U h; beta2 * Wx + b is added: (..., 2*G*H)
        scale = self.alpha * wx + self.beta1
        shift = self.beta2 * wx
        bias = self._mi_bias()
        if bias is not None:
            shift = shift + bias
        return torch.cat([scale, shift], dim=-1)

    def affine_input(self) -> tuple[Tensor, Tensor | None] | None:
        return None  # project_input returns [scale, shift], not W_ih x + b

    def _recurrent(self, p_t: Tensor, h: Tensor) -> Tensor:
        scale, shift = p_t.chunk(2, dim=-1)
        # alpha * Wx * Uh + beta1 * Uh + beta2 * Wx + b
        return torch.addcmul(shift, h @ self.weight_hh.t(), scale)


class MIElmanCell(_MultiplicativeIntegration, ElmanCell):
    r"""Elman cell with multiplicative integration.

    .. math::
        h_t = \phi(\alpha \odot W_{ih} x_t \odot W_{hh} h_{t-1} + \beta_1 \odot W_{hh} h_{t-1}
              + \beta_2 \odot W_{ih} x_t + b_{ih} + b_{hh}), \qquad y_t = h_t

    ``alpha``, ``beta1``, ``beta2`` (shape ``(H,)``) start at 1. Arguments as
    :class:`~rnnlab.cells.ElmanCell`.

    Shapes: ``x_t (B, D)``, ``state.h (B, H)`` -> ``y_t (B, H)``.

    Example::

        cell = MIElmanCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        Wu et al. write one bias ``b``; here it is ``b_ih + b_hh`` so that the parameters
        stay those of the plain cell.
    """

    def __init__(
        self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", bias: bool = True
    ) -> None:
        super().__init__(input_size, hidden_size, nonlinearity, bias)
        self._init_mi(gates=1)


class MILSTMCell(_MultiplicativeIntegration, LSTMCell):
    r"""LSTM cell with multiplicative integration in every gate (order ``i, f, g, o``).

    .. math::
        \begin{aligned}
        a_t &= \alpha \odot (W_{ih} x_t) \odot (W_{hh} h_{t-1}) + \beta_1 \odot W_{hh} h_{t-1}
               + \beta_2 \odot W_{ih} x_t + b_{ih} + b_{hh} \\
        i_t, f_t, g_t, o_t &= \sigma(a_i), \sigma(a_f), \tanh(a_g), \sigma(a_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t), \qquad y_t = h_t
        \end{aligned}

    ``alpha``, ``beta1``, ``beta2`` (shape ``(4H,)``) start at 1. Arguments (and
    ``chrono_init_``) as :class:`~rnnlab.cells.LSTMCell`.

    Shapes: ``x_t (B, D)``, ``state = LSTMState(h (B, H), c (B, H))`` -> ``y_t (B, H)``.

    Example::

        cell = MILSTMCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))
    """

    def __init__(
        self, input_size: int, hidden_size: int, forget_bias: float = 1.0, bias: bool = True
    ) -> None:
        super().__init__(input_size, hidden_size, forget_bias, bias)
        self._init_mi(gates=4)


class MIGRUCell(_MultiplicativeIntegration, GRUCell):
    r"""GRU cell (PyTorch's variant, order ``r, z, n``) with multiplicative integration.

    .. math::
        \begin{aligned}
        \mathrm{MI}(u, v) &= \alpha \odot u \odot v + \beta_1 \odot v + \beta_2 \odot u \\
        r_t &= \sigma(\mathrm{MI}(W_{ir} x_t, W_{hr} h_{t-1}) + b_{ir} + b_{hr}) \\
        z_t &= \sigma(\mathrm{MI}(W_{iz} x_t, W_{hz} h_{t-1}) + b_{iz} + b_{hz}) \\
        n_t &= \tanh(\mathrm{MI}(W_{in} x_t, r_t \odot (W_{hn} h_{t-1} + b_{hn})) + b_{in}) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}, \qquad y_t = h_t
        \end{aligned}

    ``alpha``, ``beta1``, ``beta2`` (shape ``(3H,)``, per gate) start at 1. Arguments (and
    ``chrono_init_``) as :class:`~rnnlab.cells.GRUCell`.

    Shapes: ``x_t (B, D)``, ``state = GRUState(h (B, H))`` -> ``y_t (B, H)``.

    Example::

        cell = MIGRUCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        As in :class:`~rnnlab.cells.GRUCell` the reset gate acts after the recurrent matmul,
        so the recurrent term of the candidate is :math:`r_t \odot (W_{hn} h_{t-1} + b_{hn})`;
        Wu et al. build on Cho et al.'s GRU, :math:`W_{hn}(r_t \odot h_{t-1})`.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self._init_mi(gates=3)

    def _mi_bias(self) -> Tensor | None:
        if self.bias_ih is None or self.bias_hh is None:
            return None
        # b_hn stays inside the reset product
        H = self.hidden_size
        return self.bias_ih + torch.cat([self.bias_hh[: 2 * H], self.bias_hh.new_zeros(H)])

    def step(self, p_t: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        h_prev = state.h
        scale, shift = p_t.chunk(2, dim=-1)
        s_r, s_z, s_n = scale.chunk(3, dim=-1)  # alpha * W x + beta1, per gate (B, H)
        a_r, a_z, a_n = shift.chunk(3, dim=-1)  # beta2 * W x + b, per gate (B, H)
        u_r, u_z, u_n = (h_prev @ self.weight_hh.t()).chunk(3, dim=-1)
        if self.bias_hh is not None:
            u_n = u_n + self.bias_hh[2 * self.hidden_size :]
        reset = torch.sigmoid(s_r * u_r + a_r)
        update = torch.sigmoid(s_z * u_z + a_z)
        # n_t = tanh(MI(W_in x, r * (W_hn h + b_hn)) + b_in)
        new = torch.tanh(s_n * (reset * u_n) + a_n)
        # h_t = (1 - z) * n + z * h_{t-1}
        h = new + update * (h_prev - new)
        return h, GRUState(h)
