"""Stacked (deep) recurrent layers with dropout and optional residual connections."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from rnnlab._checks import check_unit_interval
from rnnlab.cells.base import State
from rnnlab.cells.fused_layout import FusedLayoutCell, can_fuse_stack, fused_stack_scan
from rnnlab.layers.base import SequenceLayer, check_sequence_input
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.trajectory import LayerTrajectory, layer_trajectories


class StackedState(NamedTuple):
    layers: tuple[Any, ...]  # one state per layer, bottom first


class Stacked(SequenceLayer):
    r"""Layers applied one after another: :math:`y^{(l)} = f^{(l)}(\tilde y^{(l-1)})`.

    Between layers the sequence goes through dropout; with ``residual=True`` a layer whose
    input and output sizes match adds its input, :math:`y^{(l)} \mathrel{+}= y^{(l-1)}`
    (Wu et al. 2016's residual stacking).

    Args:
        layers: sequence layers (:class:`Recurrent`, :class:`Bidirectional`, ...), each
            taking the previous one's ``output_size`` as its ``input_size``.
        dropout: dropout probability applied to the input of every layer after the first.
        residual: add residual connections where sizes match.

    Shapes: ``x (B, T, D)`` -> ``y (B, T, layers[-1].output_size)``, state
    ``StackedState(layers=(s_1, ..., s_L))``.
    """

    def __init__(
        self, layers: Sequence[SequenceLayer], dropout: float = 0.0, residual: bool = False
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("Stacked needs at least one layer")
        check_unit_interval("dropout", dropout)
        for lower, upper in itertools.pairwise(layers):
            if lower.output_size != upper.input_size:
                raise ValueError(
                    f"layer sizes do not chain: output {lower.output_size} feeds input "
                    f"{upper.input_size}"
                )
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.residual = residual
        self.input_size = layers[0].input_size
        self.output_size = layers[-1].output_size

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> StackedState:
        return StackedState(
            tuple(
                cast(SequenceLayer, layer).initial_state(batch, device=device, dtype=dtype)
                for layer in self.layers
            )
        )

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, StackedState]:
        cells = self._fusable_cells()
        if cells is not None:  # every layer a plain fused unroll: one multi-layer kernel
            check_sequence_input(x, self.input_size, lengths)
            if state is None:
                state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
            y, finals = fused_stack_scan(cells, x, state.layers, lengths)
            return y, StackedState(tuple(finals))
        y, final, _ = self._run(x, state, lengths, keep_states=False)
        return y, final

    def _fusable_cells(self) -> list[FusedLayoutCell] | None:
        """The layers' cells when the whole stack is one multi-layer fused kernel's work:
        plain unrolls (:class:`Recurrent` with its fused kernel), no residual connections,
        and no dropout at work between layers; ``None`` otherwise."""
        if self.residual or (self.training and self.dropout.p > 0):
            return None
        if not all(type(layer) is Recurrent and layer.fast for layer in self.layers):
            return None
        cells = [cast(Recurrent, layer).cell for layer in self.layers]
        return cast(list[FusedLayoutCell], cells) if can_fuse_stack(cells) else None

    def layer_trajectories(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, StackedState, list[LayerTrajectory]]:
        """Like :meth:`forward`, also returning every layer's states after every step, bottom
        first (:func:`~rnnlab.layers.trajectory.layer_trajectories`; for diagnostics)."""
        return self._run(x, state, lengths, keep_states=True)

    def _run(
        self, x: Tensor, state: State | None, lengths: Tensor | None, keep_states: bool
    ) -> tuple[Tensor, StackedState, list[LayerTrajectory]]:
        check_sequence_input(x, self.input_size, lengths)
        finals = []
        trajectories: list[LayerTrajectory] = []
        h = x
        for i, layer in enumerate(self.layers):
            inp = self.dropout(h) if i > 0 else h
            layer_state = None if state is None else state.layers[i]
            if keep_states:
                out, final, below = layer_trajectories(
                    cast(SequenceLayer, layer), inp, layer_state, lengths
                )
                trajectories.extend(below)
            else:
                out, final = layer(inp, layer_state, lengths)
            if self.residual and i > 0 and out.shape[-1] == h.shape[-1]:
                out = out + h
            h = out
            finals.append(final)
        return h, StackedState(tuple(finals)), trajectories

    def summary(self, y: Tensor, lengths: Tensor | None) -> Tensor:
        return cast(SequenceLayer, self.layers[-1]).summary(y, lengths)
