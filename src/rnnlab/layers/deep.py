"""Deep RNN with skip connections (Pascanu, Gulcehre, Cho & Bengio 2014)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab.cells.base import State
from rnnlab.layers.base import SequenceLayer, check_sequence_input
from rnnlab.layers.build import cell_layer
from rnnlab.layers.trajectory import LayerTrajectory, layer_trajectories


class DeepStackedState(NamedTuple):
    layers: tuple[Any, ...]  # one state per layer, bottom first


class DeepStacked(SequenceLayer):
    r"""Stacked layers with skip connections from the input to every layer and from every
    layer to the output.

    .. math::
        \begin{aligned}
        y^{(1)} &= f^{(1)}(x) \\
        y^{(l)} &= f^{(l)}\big([x;\ \mathrm{dropout}(y^{(l-1)})]\big), \qquad l = 2..L
            && \text{input skip} \\
        y &= [y^{(1)}; y^{(2)}; \dots; y^{(L)}] && \text{output skip}
        \end{aligned}

    Every layer reads the input directly, so the path from :math:`x_t` to any layer's output
    is one layer long, and the output sees every layer (shallow and deep features).

    The output skip is a concatenation. A linear readout on it,
    :math:`W y + b = \sum_l W_l y^{(l)} + b`, is exactly the sum of per-layer projections of
    the paper's shortcut connections to the output, without a second set of weights here.

    Args:
        layers: sequence layers (:class:`Recurrent`, :class:`Bidirectional`, ...); the first
            takes ``D`` features, layer ``l`` takes ``D + layers[l-1].output_size``.
        dropout: dropout on each layer's output before it feeds the next layer (not on the
            input skip, nor on the output).

    Shapes: ``x (B, T, D)`` -> ``y (B, T, sum_l layers[l].output_size)`` (zero on padded
    steps), state ``DeepStackedState(layers=(s_1, ..., s_L))``.

    Example::

        layers = build_deep_stacked("lstm", input_size=32, hidden_size=128, num_layers=3)
        y, state = layers(torch.randn(8, 50, 32))  # y: (8, 50, 384)

    Notes:
        Pascanu et al. (2014), "How to construct deep recurrent neural networks": the
        stacked RNN with shortcut connections from the input to every layer and from every
        layer to the output (as also used by Graves 2013). The paper's other two kinds of
        depth are :class:`rnnlab.models.DeepOutput` (an MLP between the layers and the
        readout) and :class:`rnnlab.cells.DeepTransitionCell` (an MLP inside the step).
    """

    def __init__(self, layers: Sequence[SequenceLayer], dropout: float = 0.0) -> None:
        super().__init__()
        if not layers:
            raise ValueError("DeepStacked needs at least one layer")
        check_unit_interval("dropout", dropout)
        D = layers[0].input_size
        for l in range(1, len(layers)):
            expected = D + layers[l - 1].output_size
            if layers[l].input_size != expected:
                raise ValueError(
                    f"layer {l} must take the input and the layer below, {D} + "
                    f"{layers[l - 1].output_size} = {expected} features, got "
                    f"{layers[l].input_size}"
                )
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.input_size = D
        self.layer_sizes: tuple[int, ...] = tuple(layer.output_size for layer in layers)
        self.output_size = sum(self.layer_sizes)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> DeepStackedState:
        return DeepStackedState(
            tuple(
                cast(SequenceLayer, layer).initial_state(batch, device=device, dtype=dtype)
                for layer in self.layers
            )
        )

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, DeepStackedState]:
        y, final, _ = self._run(x, state, lengths, keep_states=False)
        return y, final

    def layer_trajectories(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, DeepStackedState, list[LayerTrajectory]]:
        """Like :meth:`forward`, also returning every layer's states after every step, bottom
        first (:func:`~rnnlab.layers.trajectory.layer_trajectories`; for diagnostics)."""
        return self._run(x, state, lengths, keep_states=True)

    def _run(
        self, x: Tensor, state: State | None, lengths: Tensor | None, keep_states: bool
    ) -> tuple[Tensor, DeepStackedState, list[LayerTrajectory]]:
        check_sequence_input(x, self.input_size, lengths)
        outputs: list[Tensor] = []
        finals = []
        trajectories: list[LayerTrajectory] = []
        for l, layer in enumerate(self.layers):
            # input skip: layer l reads [x; y^(l-1)]
            inp = x if l == 0 else torch.cat([x, self.dropout(outputs[-1])], dim=-1)
            layer_state = None if state is None else state.layers[l]
            if keep_states:
                out, final, below = layer_trajectories(
                    cast(SequenceLayer, layer), inp, layer_state, lengths
                )
                trajectories.extend(below)
            else:
                out, final = layer(inp, layer_state, lengths)
            outputs.append(out)
            finals.append(final)
        # output skip: every layer's output, (B, T, sum of sizes)
        return torch.cat(outputs, dim=-1), DeepStackedState(tuple(finals)), trajectories

    def layer_outputs(self, y: Tensor) -> list[Tensor]:
        """Split the output ``y (..., output_size)`` back into the layers' outputs."""
        return list(y.split(list(self.layer_sizes), dim=-1))

    def summary(self, y: Tensor, lengths: Tensor | None) -> Tensor:
        """Each layer's own summary (e.g. both ends of a bidirectional layer), concatenated."""
        return torch.cat(
            [
                cast(SequenceLayer, layer).summary(part, lengths)
                for layer, part in zip(self.layers, self.layer_outputs(y), strict=True)
            ],
            dim=-1,
        )


def build_deep_stacked(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 2,
    bidirectional: bool = False,
    dropout: float = 0.0,
    fast: bool = True,
    cell_options: Mapping[str, Any] | None = None,
) -> DeepStacked:
    """``num_layers`` unrolls of the registered ``cell`` with input and output skips.

    Layer ``l > 1`` is built for ``input_size + (output of layer l-1)`` features; the
    result's ``output_size`` is the sum of the layers' (``num_layers * H``, doubled when
    bidirectional, times 3 for ``hmrnn`` whose cell outputs all its layers).

    Example::

        layers = build_deep_stacked("gru", input_size=1, hidden_size=64, num_layers=3)
    """
    check_positive("hidden_size", hidden_size)
    check_positive("num_layers", num_layers)
    layers: list[SequenceLayer] = []
    size = input_size
    for _ in range(num_layers):
        layer = cell_layer(cell, size, hidden_size, bidirectional, fast, cell_options)
        layers.append(layer)
        size = input_size + layer.output_size
    return DeepStacked(layers, dropout=dropout)
