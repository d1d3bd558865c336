"""Jacobian spectra along a trajectory: :math:`J_t = \\partial s_t / \\partial s_{t-1}`.

The singular values of :math:`J_t` say how each step stretches or shrinks a perturbation of
the state; those of the product :math:`J_t \\cdots J_1 = \\partial s_t / \\partial s_0` say
what survives ``t`` steps, the quantity behind vanishing and exploding gradients. For an
orthogonal linear recurrence every singular value is 1 at every ``t``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import jacrev

from rnnlab._tree import flatten_state, unflatten_state
from rnnlab.cells.base import Cell, State, map_state
from rnnlab.diagnostics.gradflow import single_cell


def _flatten(state: State) -> Tensor:
    """The state of one row as a real vector (complex tensors as ``[Re, Im]`` pairs)."""
    return flatten_state(state).reshape(-1)


def _unflatten(vector: Tensor, like: State) -> State:
    """Refill ``like``'s floating-point and complex tensors from ``vector``; other fields
    (a step counter) are kept as they are."""
    return unflatten_state(vector.reshape(1, -1), like)


@dataclass(frozen=True)
class JacobianSpectrum:
    """Singular values along one trajectory (float64), steps ``t = 1..T``.

    Attributes:
        step: ``step[t]`` the singular values of :math:`J_t`, descending.
        product_max: largest singular value of :math:`J_t \\cdots J_1`.
        product_min: smallest singular value of :math:`J_t \\cdots J_1`.
    """

    step: list[list[float]]
    product_max: list[float]
    product_min: list[float]

    def to_dict(self) -> dict[str, object]:
        return {
            "step_singular_values": self.step,
            "step_max": [s[0] for s in self.step],
            "step_min": [s[-1] for s in self.step],
            "product_max": self.product_max,
            "product_min": self.product_min,
        }


def cell_jacobians(cell: Cell, x: Tensor, state: State | None = None) -> list[Tensor]:
    """:math:`\\partial s_t / \\partial s_{t-1}` for each step of one sequence ``x (T, D)``.

    The state is flattened over its tensors (``[h; c]`` for an LSTM), so each Jacobian is
    ``(S, S)``.
    """
    if state is None:
        state = cell.initial_state(1, device=x.device, dtype=x.dtype)
    jacobians: list[Tensor] = []
    with cell.unrolling():
        projected = cell.project_input(x.unsqueeze(0))  # (1, T, P)
        for p_t in projected.unbind(1):
            template = state

            def step(vector: Tensor, p_t: Tensor = p_t, template: State = template) -> Tensor:
                return _flatten(cell.step(p_t, _unflatten(vector, template))[1])

            vector = _flatten(state).detach()
            jacobians.append(jacrev(step)(vector).detach())
            state = map_state(lambda t: t.detach(), cell.step(p_t, state)[1])
    return jacobians


def jacobian_spectrum(model: nn.Module, x: Tensor) -> JacobianSpectrum:
    """Spectra of the step Jacobians and of their running product for one sequence.

    ``model`` has a single :class:`~rnnlab.layers.Recurrent` layer; ``x`` is ``(T, D)``.
    Computed in float64 on a copy of the cell, so the products neither under- nor overflow
    over a few hundred steps.
    """
    cell = single_cell(model)
    cell64 = copy.deepcopy(cell).double().cpu()
    jacobians = cell_jacobians(cell64, x.detach().double().cpu())
    step_values: list[list[float]] = []
    product_max: list[float] = []
    product_min: list[float] = []
    product = torch.eye(jacobians[0].shape[0], dtype=torch.float64)
    for J in jacobians:
        step_values.append(torch.linalg.svdvals(J).tolist())
        product = J @ product
        sv = torch.linalg.svdvals(product)
        product_max.append(float(sv[0]))
        product_min.append(float(sv[-1]))
    return JacobianSpectrum(step_values, product_max, product_min)
