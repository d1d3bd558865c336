"""Gradient flow through time: how much of the loss's gradient reaches each step's state.

With weights shared across time, the gradient a loss at step T sends back to the state at
step t is a product of Jacobians,

.. math::
    \\frac{\\partial L}{\\partial h_t} = \\frac{\\partial L}{\\partial h_T}
        \\prod_{k=t+1}^{T} \\frac{\\partial h_k}{\\partial h_{k-1}}
        \\; (+ \\text{direct terms where } L \\text{ reads } h_t),

so it shrinks or grows exponentially in ``T - t`` unless the Jacobians' singular values stay
near 1 (gates, orthogonal/unitary recurrences). :func:`gradient_flow` measures
:math:`\\lVert \\partial L / \\partial h_t \\rVert` for every ``t``: over the whole state,
per recurrent layer of a stack (the top layers of a dilated RNN skip ``d`` steps per
transition), and per part of a structured state (the modules of a clockwork RNN, fast to
slow; the levels of a hierarchical multiscale RNN).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnlab._tree import state_leaves
from rnnlab.cells.base import Cell, State, StatePart
from rnnlab.layers.base import SequenceLayer
from rnnlab.layers.trajectory import layer_trajectories
from rnnlab.tasks.base import Batch, Task


def state_tensors(state: State) -> list[Tensor]:
    """Every floating-point or complex tensor of a (nested) NamedTuple state, in field order
    (integer fields such as a step counter are not differentiable state):
    :func:`rnnlab._tree.state_leaves` with ``differentiable_only=True``."""
    return state_leaves(state, differentiable_only=True)


def hidden_tensors(state: State) -> list[Tensor]:
    """The hidden state whose gradient :func:`gradient_flow` measures: the field ``h`` when
    the state has one (LSTM: ``h``, not the cell ``c``), else every floating-point or complex
    tensor (a complex state, stored as ``(h_re, h_im)`` or as one complex tensor, gives the
    Euclidean norm of ``[Re, Im]``)."""
    h = getattr(state, "h", None)
    if isinstance(h, Tensor):
        return [h]
    return state_tensors(state)


def single_cell(model: nn.Module) -> Cell:
    """The cell of the model's one recurrent layer, which steps it as
    :math:`s_t = F(x_t, s_{t-1})`: ``model.layers`` has a ``cell`` and no recurrent skip
    (``dilation`` 1 or none), as a :class:`~rnnlab.layers.Recurrent` layer; diagnostics
    over time need exactly one."""
    layers = getattr(model, "layers", None)
    cell = getattr(layers, "cell", None)
    if not isinstance(cell, Cell) or getattr(layers, "dilation", 1) != 1:
        kind = type(layers).__name__
        raise ValueError(
            f"time diagnostics need a model with a single Recurrent layer, got {kind} "
            "(use one layer, not bidirectional)"
        )
    return cell


def state_parts(cell: Cell) -> list[StatePart]:
    """The parts of ``cell``'s hidden state that :func:`gradient_flow` reports separately,
    :meth:`Cell.state_parts <rnnlab.cells.Cell.state_parts>`: a
    :class:`~rnnlab.cells.ClockworkCell`'s modules (``h (B, H)``, module ``i`` the units
    ``i m .. (i+1) m - 1``, fast to slow), a :class:`~rnnlab.cells.HMRNNCell`'s levels
    (``h (B, L, H)``, bottom first); none for most cells."""
    return cell.state_parts()


def early_late_ratio(norms: list[float]) -> float:
    """Mean of ``norms`` over the first tenth of the steps (at least one) over its mean over
    the last tenth: like ``norms[0] / norms[-1]``, but not zero when the first step alone
    is off the loss's paths (the top layers of a dilated stack read at one step)."""
    w = max(1, len(norms) // 10)
    late = sum(norms[-w:]) / w
    return sum(norms[:w]) / w / late if late > 0 else math.inf


@dataclass(frozen=True)
class FlowCurve:
    """:math:`\\lVert \\partial L / \\partial h_t \\rVert` of one part of the state for
    ``t = 1..T``, and ``norms[0] / norms[-1]``."""

    norms: list[float]
    ratio_first_last: float

    @classmethod
    def from_squares(cls, squares: list[float]) -> FlowCurve:
        norms = [math.sqrt(v) for v in squares]
        last = norms[-1]
        return cls(norms, norms[0] / last if last > 0 else math.inf)

    @property
    def ratio_early_late(self) -> float:
        """:func:`early_late_ratio` of the norms."""
        return early_late_ratio(self.norms)

    def to_dict(self) -> dict[str, object]:
        return {
            "norms": self.norms,
            "ratio_first_last": self.ratio_first_last,
            "ratio_early_late": self.ratio_early_late,
        }


@dataclass(frozen=True)
class GradientFlow:
    """``norms[t]`` = :math:`\\lVert \\partial L / \\partial s_t \\rVert` for steps ``t = 1..T``.

    The norm is the Frobenius norm over the batch and every recurrent layer's hidden state
    (``h`` for an LSTM, not ``c``; see :func:`hidden_tensors`) of the gradient of the
    batch-mean loss. ``ratio_first_last`` is ``norms[0] / norms[-1]``: far below 1, the
    first steps get (almost) no gradient; ``ratio_early_late`` compares the first and last
    tenths of the steps (:func:`early_late_ratio`).

    ``layers`` holds the same measure per recurrent layer, bottom first, named
    ``"layer l"`` (``"layer l (d=k)"`` for a dilated layer); ``parts`` per part of a
    structured state (:func:`state_parts`), named ``"module i (period p)"`` or
    ``"level l"``, prefixed with ``"layer l: "`` in a stack of several layers.
    """

    norms: list[float]
    ratio_first_last: float
    layers: dict[str, FlowCurve] = field(default_factory=dict)
    parts: dict[str, FlowCurve] = field(default_factory=dict)

    @property
    def ratio_early_late(self) -> float:
        """:func:`early_late_ratio` of the norms."""
        return early_late_ratio(self.norms)

    def to_dict(self) -> dict[str, object]:
        return {
            "norms": self.norms,
            "ratio_first_last": self.ratio_first_last,
            "ratio_early_late": self.ratio_early_late,
            "layers": {k: v.to_dict() for k, v in self.layers.items()},
            "parts": {k: v.to_dict() for k, v in self.parts.items()},
        }


def _sequence_model(model: nn.Module) -> SequenceLayer:
    layers = getattr(model, "layers", None)
    if not isinstance(layers, SequenceLayer) or not callable(getattr(model, "readout", None)):
        raise ValueError(
            f"gradient flow needs a Seq2Vec or Tagger (layers + readout), got "
            f"{type(model).__name__}"
        )
    return layers


def gradient_flow(model: nn.Module, task: Task, batch: Batch) -> GradientFlow:
    """Measure :class:`GradientFlow` of ``task.dependency_loss`` on ``batch``.

    The model is a :class:`~rnnlab.models.Seq2Vec` or :class:`~rnnlab.models.Tagger` over
    a :class:`~rnnlab.layers.Recurrent` or :class:`~rnnlab.layers.Dilated` layer, or a
    :class:`~rnnlab.layers.Stacked` / :class:`~rnnlab.layers.DeepStacked` stack of them
    (:func:`~rnnlab.layers.layer_trajectories`); the unroll runs the step loop (so every
    state is a node of the graph) in float64 on a copy of the model, in eval mode.
    """
    _sequence_model(model)
    # float64 on a copy: gradients that fall like 0.5^T underflow float32 within ~150 steps
    model = copy.deepcopy(model).double().eval()  # eval: no dropout noise in the measurement
    layers = _sequence_model(model)
    device = next(model.parameters()).device
    batch = Batch(batch.x.double(), batch.targets, batch.lengths).to(device)
    if batch.targets.is_floating_point():
        batch = Batch(batch.x, batch.targets.double(), batch.lengths)
    y, _, trajectories = layer_trajectories(layers, batch.x, lengths=batch.lengths)
    out = model.readout(y, batch.lengths)  # type: ignore[operator]
    loss = task.dependency_loss(out, batch)
    # per layer, per step: the hidden tensors whose gradient is measured
    per_layer = [[hidden_tensors(s) for s in tr.states] for tr in trajectories]
    flat = [t for steps in per_layer for tensors in steps for t in tensors]
    grads = iter(torch.autograd.grad(loss, flat, allow_unused=True))
    T = len(per_layer[0])
    total = [0.0] * T
    layer_curves: dict[str, FlowCurve] = {}
    part_curves: dict[str, FlowCurve] = {}
    for l, (tr, steps) in enumerate(zip(trajectories, per_layer, strict=True)):
        parts = state_parts(tr.cell)
        squares = [0.0] * T
        part_squares = [[0.0] * T for _ in parts]
        for t, tensors in enumerate(steps):
            for k, _ in enumerate(tensors):
                g = next(grads)
                if g is None:
                    continue
                # a complex state's gradient counts |g|^2 = Re^2 + Im^2 (narrowed on axis 1)
                g = (torch.view_as_real(g) if g.is_complex() else g).double()
                squares[t] += float(g.pow(2).sum())
                if k == 0:  # the parts split h, the first hidden tensor
                    for p, part in enumerate(parts):
                        part_squares[p][t] += float(
                            g.narrow(1, part.start, part.length).pow(2).sum()
                        )
        for t in range(T):
            total[t] += squares[t]
        name = f"layer {l + 1}" + (f" (d={tr.dilation})" if tr.dilation != 1 else "")
        layer_curves[name] = FlowCurve.from_squares(squares)
        prefix = f"layer {l + 1}: " if len(trajectories) > 1 else ""
        for part, values in zip(parts, part_squares, strict=True):
            part_curves[prefix + part.name] = FlowCurve.from_squares(values)
    whole = FlowCurve.from_squares(total)
    return GradientFlow(whole.norms, whole.ratio_first_last, layer_curves, part_curves)
