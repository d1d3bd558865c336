"""Multiplicative RNN (Sutskever, Martens & Hinton 2011): an input-dependent transition."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell


class MRNNState(NamedTuple):
    h: Tensor  # (B, H)


class MRNNCell(Cell):
    r"""Multiplicative RNN: each input picks its own hidden-to-hidden matrix through a
    factored tensor, :math:`W_{hh}^{(x_t)} = W_{hf} \operatorname{diag}(W_{fx} x_t) W_{fh}`.

    .. math::
        \begin{aligned}
        f_t &= \operatorname{diag}(W_{fx} x_t)\, W_{fh} h_{t-1} \\
        h_t &= \tanh(W_{hf} f_t + W_{hx} x_t + b), \qquad y_t = h_t
        \end{aligned}

    ``W_fx x_t`` and ``W_hx x_t + b`` depend on the input only, so :meth:`project_input`
    computes both for every step at once (``P = F + H``); the step does two matmuls,
    ``W_fh h`` and ``W_hf f``.

    Every weight is initialised :math:`U(-1/\sqrt{n}, 1/\sqrt{n})` with ``n`` its fan-in (as
    PyTorch initialises linear layers), the bias to zero.

    Args:
        input_size: D.
        hidden_size: H.
        factors: F, the number of factors of the tensor; default H.
        bias: whether to use ``b``.

    Shapes: ``x_t (B, D)``, ``state = MRNNState(h (B, H))`` -> ``y_t (B, H)``;
    ``weight_fx (F, D)``, ``weight_fh (F, H)``, ``weight_hf (H, F)``, ``weight_hx (H, D)``.

    Example::

        cell = MRNNCell(3, 16, factors=32)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        Sutskever et al. train with Hessian-free optimisation from a sparse initialisation and
        feed one-hot characters, for which ``W_fx x_t`` is one column of ``W_fx``; this cell
        takes any input and is meant for first-order optimisers. Their model also reads the
        output through ``W_oh h_t``, which here is the model's output layer.
    """

    def __init__(
        self, input_size: int, hidden_size: int, factors: int | None = None, bias: bool = True
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        factors = hidden_size if factors is None else factors
        check_positive("factors", factors)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.factors = factors
        self.weight_fx = nn.Parameter(_uniform(factors, input_size))
        self.weight_fh = nn.Parameter(_uniform(factors, hidden_size))
        self.weight_hf = nn.Parameter(_uniform(hidden_size, factors))
        self.weight_hx = nn.Parameter(_uniform(hidden_size, input_size))
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(torch.zeros(hidden_size))
        else:
            self.register_parameter("bias", None)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> MRNNState:
        return MRNNState(self._zeros(batch, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        # [W_fx x, W_hx x + b] for every step at once: (..., D) -> (..., F + H)
        gain = nn.functional.linear(x, self.weight_fx)
        direct = nn.functional.linear(x, self.weight_hx, self.bias)
        return torch.cat([gain, direct], dim=-1)

    def step(self, p_t: Tensor, state: MRNNState) -> tuple[Tensor, MRNNState]:
        gain, direct = p_t.split([self.factors, self.hidden_size], dim=-1)  # (B, F), (B, H)
        # f_t = diag(W_fx x_t) W_fh h_{t-1}
        f = gain * (state.h @ self.weight_fh.t())
        # h_t = tanh(W_hf f_t + W_hx x_t + b)
        h = torch.tanh(torch.addmm(direct, f, self.weight_hf.t()))
        return h, MRNNState(h)


def _uniform(rows: int, fan_in: int) -> Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(rows, fan_in).uniform_(-bound, bound)
