"""Every layer's per-step states, for diagnostics that differentiate through them."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from rnnlab.cells.base import Cell, State
from rnnlab.layers.base import SequenceLayer


class LayerTrajectory(NamedTuple):
    """One recurrent layer's states along a sequence.

    Attributes:
        cell: the layer's cell (tells a diagnostic how its state is laid out, e.g. the
            modules of a clockwork RNN).
        states: ``states[t]`` is the cell's state after step ``t`` (batch ``B``, time order),
            a node of the autograd graph: ``torch.autograd.grad(loss, states[t].h)`` is
            :math:`\\partial L / \\partial h_t` of this layer.
        dilation: the layer's recurrent skip (1 for :class:`~rnnlab.layers.Recurrent`).
    """

    cell: Cell
    states: list[State]
    dilation: int


def layer_trajectories(
    layer: SequenceLayer, x: Tensor, state: State | None = None, lengths: Tensor | None = None
) -> tuple[Tensor, State, list[LayerTrajectory]]:
    """Run ``layer`` on ``x (B, T, D)`` keeping every recurrent layer's per-step states.

    ``layer`` is a single recurrent layer with a ``trajectory`` method
    (:class:`~rnnlab.layers.Recurrent`, :class:`~rnnlab.layers.Dilated`) or a stack with
    a ``layer_trajectories`` method (:class:`~rnnlab.layers.Stacked`,
    :class:`~rnnlab.layers.DeepStacked`) of such layers. Returns the output ``y``, the
    final state (as ``layer(x, state, lengths)`` would) and one :class:`LayerTrajectory`
    per recurrent layer, bottom first.
    """
    stacked = getattr(layer, "layer_trajectories", None)
    if callable(stacked):
        y, final, trajectories = stacked(x, state, lengths)
        return y, final, list(trajectories)
    single = getattr(layer, "trajectory", None)
    cell = getattr(layer, "cell", None)
    if callable(single) and isinstance(cell, Cell):
        y, final, states = single(x, state, lengths)
        return y, final, [LayerTrajectory(cell, list(states), getattr(layer, "dilation", 1))]
    raise ValueError(
        f"{type(layer).__name__} does not expose per-step states; expected Recurrent, "
        "Dilated, or Stacked / DeepStacked of them (not bidirectional)"
    )
