"""Gradient flow through time: how much of the loss's gradient reaches each step's state.

With weights shared across time, the gradient a loss at step T sends back to the state at
step t is a product of Jacobians,

.. math::
    \\frac{\\partial L}{\\partial h_t} = \\frac{\\partial L}{\\partial h_T}
        \\prod_{k=t+1}^{T} \\frac{\\partial h_k}{\\partial h_{k-1}}
        \\; (+ \\text{direct terms where } L \\text{ reads } h_t),

so it shrinks or grows exponentially in ``T - t`` unless the Jacobians' singular values stay
near 1 (gates, orthogonal/unitary recurrences). :func:`gradient_flow` measures
:math:`\\lVert \\partial L / \\partial h_t \\rVert` for every ``t``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnlab.cells.base import State
from rnnlab.layers.recurrent import Recurrent
from rnnlab.tasks.base import Batch, Task


def state_tensors(state: State) -> list[Tensor]:
    """Every floating-point tensor of a (nested) NamedTuple state, in field order (integer
    fields such as a step counter are not differentiable state)."""
    if isinstance(state, Tensor):
        return [state] if state.is_floating_point() else []
    out: list[Tensor] = []
    for field in state:
        out.extend(state_tensors(field))
    return out


def hidden_tensors(state: State) -> list[Tensor]:
    """The hidden state whose gradient :func:`gradient_flow` measures: the field ``h`` when
    the state has one (LSTM: ``h``, not the cell ``c``), else every floating-point tensor
    (a complex state stored as ``(h_re, h_im)`` gives the Euclidean norm of ``[Re, Im]``)."""
    h = getattr(state, "h", None)
    if isinstance(h, Tensor):
        return [h]
    return state_tensors(state)


def single_recurrent(model: nn.Module) -> Recurrent:
    """The model's :class:`Recurrent` layer; diagnostics over time need exactly one."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, Recurrent):
        kind = type(layers).__name__
        raise ValueError(
            f"time diagnostics need a model with a single Recurrent layer, got {kind} "
            "(use one layer, not bidirectional)"
        )
    return layers


@dataclass(frozen=True)
class GradientFlow:
    """``norms[t]`` = :math:`\\lVert \\partial L / \\partial s_t \\rVert` for steps ``t = 1..T``.

    The norm is the Frobenius norm over the batch and every tensor of the state (``h`` and
    ``c`` for an LSTM) of the gradient of the batch-mean loss. ``ratio_first_last`` is
    ``norms[0] / norms[-1]``: far below 1, the first steps get (almost) no gradient.
    """

    norms: list[float]
    ratio_first_last: float

    def to_dict(self) -> dict[str, object]:
        return {"norms": self.norms, "ratio_first_last": self.ratio_first_last}


def gradient_flow(model: nn.Module, task: Task, batch: Batch) -> GradientFlow:
    """Measure :class:`GradientFlow` of ``task.dependency_loss`` on ``batch``.

    The model is a :class:`~rnnlab.models.Seq2Vec` or :class:`~rnnlab.models.Tagger` over
    one :class:`~rnnlab.layers.Recurrent`; the unroll runs the step loop (so every state is
    a node of the graph) in float64 on a copy of the model, in eval mode.
    """
    single_recurrent(model)
    # float64 on a copy: gradients that fall like 0.5^T underflow float32 within ~150 steps
    model = copy.deepcopy(model).double().eval()  # eval: no dropout noise in the measurement
    layer = single_recurrent(model)
    device = next(model.parameters()).device
    batch = Batch(batch.x.double(), batch.y, batch.lengths).to(device)
    if batch.y.is_floating_point():
        batch = Batch(batch.x, batch.y.double(), batch.lengths)
    y, _, states = layer.trajectory(batch.x, lengths=batch.lengths)
    out = model.readout(y, batch.lengths)  # type: ignore[operator]
    loss = task.dependency_loss(out, batch)
    per_step = [hidden_tensors(s) for s in states]
    flat = [t for tensors in per_step for t in tensors]
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    norms: list[float] = []
    i = 0
    for tensors in per_step:
        total = 0.0
        for _ in tensors:
            g = grads[i]
            i += 1
            if g is not None:
                total += float(g.double().pow(2).sum())
        norms.append(math.sqrt(total))
    last = norms[-1]
    ratio = norms[0] / last if last > 0 else math.inf
    return GradientFlow(norms, ratio)
