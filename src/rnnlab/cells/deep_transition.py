"""Deep-transition RNN (Pascanu, Gulcehre, Cho & Bengio 2014): an MLP inside the step."""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell


class DeepTransitionState(NamedTuple):
    h: Tensor  # (B, H)


class DeepTransitionCell(Cell):
    r"""Elman-style cell whose transition is a tanh MLP of ``layers`` layers (DT-RNN).

    .. math::
        \begin{aligned}
        z^{(1)}_t &= \tanh(W x_t + U h_{t-1} + b_1) \\
        z^{(l)}_t &= \tanh(V_l z^{(l-1)}_t + b_l), \qquad l = 2..L \\
        h_t &= z^{(L)}_t, \qquad y_t = h_t
        \end{aligned}

    The intermediate layers have ``transition_size`` units, the last ``H``. With
    ``layers=1`` it is the Elman cell (without the fused kernel). Each step costs ``L``
    matmuls, and the path from ``h_{t-1}`` to ``h_t`` crosses ``L`` nonlinearities, which
    makes the transition more expressive and long-range gradients harder to carry.

    ``W`` and ``U`` are initialised as in ``torch.nn.RNN``, :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`,
    ``b_1`` to zero, and the MLP layers ``V_l`` as ``torch.nn.Linear``.

    Args:
        input_size: D.
        hidden_size: H.
        layers: L, the depth of the transition (``1`` is a plain Elman cell).
        transition_size: width S of the intermediate layers; default H.
        bias: whether to use biases.

    Shapes: ``x_t (B, D)``, ``state = DeepTransitionState(h (B, H))`` -> ``y_t (B, H)``;
    ``weight_ih (S, D)``, ``weight_hh (S, H)``, ``transition[l]`` maps ``S -> S`` and the
    last ``S -> H`` (for ``L > 1``).

    Example::

        cell = DeepTransitionCell(3, 16, layers=3)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        Pascanu et al.'s DT(S)-RNN adds a shortcut from ``h_{t-1}`` past the MLP, and their
        deep-output variant an MLP between ``h_t`` and the output; both are left to the
        layers and models.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        layers: int = 2,
        transition_size: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("layers", layers)
        width = hidden_size if transition_size is None else transition_size
        check_positive("transition_size", width)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.layers = layers
        first = width if layers > 1 else hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(first, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(first, hidden_size).uniform_(-bound, bound))
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(torch.zeros(first))
        else:
            self.register_parameter("bias", None)
        sizes = [width] * (layers - 1) + [hidden_size]
        self.transition = nn.ModuleList(
            nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in itertools.pairwise(sizes)
        )

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> DeepTransitionState:
        return DeepTransitionState(self._zeros(batch, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        # W x + b_1 for every step at once: (..., D) -> (..., S)
        return nn.functional.linear(x, self.weight_ih, self.bias)

    def step(self, p_t: Tensor, state: DeepTransitionState) -> tuple[Tensor, DeepTransitionState]:
        # z_1 = tanh(W x_t + U h_{t-1} + b_1)
        z = torch.tanh(torch.addmm(p_t, state.h, self.weight_hh.t()))
        for layer in self.transition:
            # z_l = tanh(V_l z_{l-1} + b_l)
            z = torch.tanh(layer(z))
        return z, DeepTransitionState(z)
