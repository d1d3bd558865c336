"""Layer-normalised LSTM and GRU cells (Ba, Kiros & Hinton 2016)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell
from rnnlab.cells.gru import GRUState
from rnnlab.cells.lstm import LSTMState

EPS = 1e-5


def block_layer_norm(x: Tensor, blocks: int, eps: float = EPS) -> Tensor:
    """Normalise each of the ``blocks`` equal slices of the last axis to zero mean and unit
    variance (biased variance, ``eps`` added to it), without gain or bias.

    ``(..., G*H) -> (..., G*H)``: with ``blocks=G`` every gate's ``H`` units are normalised
    on their own.
    """
    shape = x.shape
    if shape[-1] % blocks:
        raise ValueError(f"last axis {shape[-1]} does not split into {blocks} blocks")
    split = x.reshape(*shape[:-1], blocks, shape[-1] // blocks)
    return nn.functional.layer_norm(split, split.shape[-1:], eps=eps).reshape(shape)


class _LayerNormCell(Cell):
    """Parameters shared by the layer-normalised cells: ``W``, ``U`` and their gains."""

    def _make_params(self, input_size: int, hidden_size: int, gates: int) -> None:
        g = gates * hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(g, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size).uniform_(-bound, bound))
        self.gain_ih = nn.Parameter(torch.ones(g))
        self.gain_hh = nn.Parameter(torch.ones(g))
        self.gates = gates

    def _normed_input(self, x: Tensor) -> Tensor:
        # LN(W x) per gate block, times its gain: (..., D) -> (..., G*H)
        wx = nn.functional.linear(x, self.weight_ih)
        return self.gain_ih * block_layer_norm(wx, self.gates)

    def _normed_recurrent(self, h: Tensor) -> Tensor:
        # LN(U h) per gate block, times its gain: (B, H) -> (B, G*H)
        return self.gain_hh * block_layer_norm(h @ self.weight_hh.t(), self.gates)


class LayerNormLSTMCell(_LayerNormCell):
    r"""LSTM cell with layer normalisation of ``W x``, ``U h`` and ``c``; gate order
    ``i, f, g, o``.

    .. math::
        \begin{aligned}
        a_t &= \gamma_x \odot \mathrm{LN}(W x_t) + \gamma_h \odot \mathrm{LN}(U h_{t-1}) + b \\
        i_t, f_t, g_t, o_t &= \sigma(a_i), \sigma(a_f), \tanh(a_g), \sigma(a_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(\gamma_c \odot \mathrm{LN}(c_t) + \beta_c), \qquad y_t = h_t
        \end{aligned}

    where :math:`\mathrm{LN}` subtracts the mean and divides by the standard deviation of
    each gate's block of ``H`` units (:func:`block_layer_norm`). The normalised input term
    (with ``b``) is hoisted out of the time loop; the state carries the un-normalised
    ``c_t``.

    Weights are initialised :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`, gains to 1, biases to 0
    except the forget gate's, ``forget_bias``.

    Args:
        input_size: D.
        hidden_size: H.
        forget_bias: initial value of the forget-gate bias.

    Shapes: ``x_t (B, D)``, ``state = LSTMState(h (B, H), c (B, H))`` -> ``y_t (B, H)``;
    ``weight_ih (4H, D)``, ``weight_hh (4H, H)``, ``gain_ih, gain_hh, bias (4H,)``,
    ``gain_c, bias_c (H,)``.

    Example::

        cell = LayerNormLSTMCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        Ba et al. normalise the whole ``4H`` vector ``W_h h_{t-1}`` (and ``W_x x_t``) at once;
        here each gate is normalised on its own, so that one gate's scale does not set
        another's. Their separate biases of the two normalised terms are folded into one,
        ``b``.
    """

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 1.0) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        H = hidden_size
        self._make_params(input_size, H, gates=4)
        b = torch.zeros(4 * H)
        b[H : 2 * H] = forget_bias
        self.bias = nn.Parameter(b)
        self.gain_c = nn.Parameter(torch.ones(H))
        self.bias_c = nn.Parameter(torch.zeros(H))

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> LSTMState:
        z = self._zeros(batch, device, dtype)
        return LSTMState(z, z.clone())

    def project_input(self, x: Tensor) -> Tensor:
        # gamma_x * LN(W x) + b for every step at once: (..., D) -> (..., 4H)
        return self._normed_input(x) + self.bias

    def step(self, p_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        # a_t = gamma_x * LN(W x) + b + gamma_h * LN(U h_{t-1})
        gates = p_t + self._normed_recurrent(state.h)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)
        # c_t = f * c_{t-1} + i * g
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        # h_t = o * tanh(gamma_c * LN(c_t) + beta_c)
        c_normed = self.gain_c * block_layer_norm(c, 1) + self.bias_c
        h = torch.sigmoid(o) * torch.tanh(c_normed)
        return h, LSTMState(h, c)


class LayerNormGRUCell(_LayerNormCell):
    r"""GRU cell (PyTorch's variant, gate order ``r, z, n``) with layer normalisation of
    ``W x`` and ``U h`` per gate.

    .. math::
        \begin{aligned}
        \tilde x_t &= \gamma_x \odot \mathrm{LN}(W x_t) + b_x, \qquad
        \tilde h_t = \gamma_h \odot \mathrm{LN}(U h_{t-1}) + b_h \\
        r_t &= \sigma(\tilde x_r + \tilde h_r), \qquad z_t = \sigma(\tilde x_z + \tilde h_z) \\
        n_t &= \tanh(\tilde x_n + r_t \odot \tilde h_n) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}, \qquad y_t = h_t
        \end{aligned}

    where :math:`\mathrm{LN}` normalises each gate's block of ``H`` units
    (:func:`block_layer_norm`). The input term is hoisted out of the time loop.

    Weights are initialised :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`, gains to 1, biases to 0.

    Args:
        input_size: D.
        hidden_size: H.

    Shapes: ``x_t (B, D)``, ``state = GRUState(h (B, H))`` -> ``y_t (B, H)``;
    ``weight_ih (3H, D)``, ``weight_hh (3H, H)``, ``gain_ih, gain_hh, bias_ih, bias_hh (3H,)``.

    Example::

        cell = LayerNormGRUCell(3, 16)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        Ba et al. give the layer-normalised LSTM; this GRU applies the same recipe, keeping
        :class:`~rnnlab.cells.GRUCell`'s reset gate after the recurrent matmul (so ``b_hn``
        sits inside the reset product).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self._make_params(input_size, hidden_size, gates=3)
        self.bias_ih = nn.Parameter(torch.zeros(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(3 * hidden_size))

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> GRUState:
        return GRUState(self._zeros(batch, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        # gamma_x * LN(W x) + b_x for every step at once: (..., D) -> (..., 3H)
        return self._normed_input(x) + self.bias_ih

    def step(self, p_t: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        h_prev = state.h
        x_r, x_z, x_n = p_t.chunk(3, dim=-1)
        h_r, h_z, h_n = (self._normed_recurrent(h_prev) + self.bias_hh).chunk(3, dim=-1)
        reset = torch.sigmoid(x_r + h_r)
        update = torch.sigmoid(x_z + h_z)
        # n_t = tanh(x_n + r * h_n)
        new = torch.tanh(x_n + reset * h_n)
        # h_t = (1 - z) * n + z * h_{t-1}
        h = new + update * (h_prev - new)
        return h, GRUState(h)
