"""Build a layer stack from a registered cell name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnlab._checks import check_positive
from rnnlab.cells.registry import make_cell
from rnnlab.layers.base import SequenceLayer
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stacked import Stacked


def build_layers(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    residual: bool = False,
    fast: bool = True,
    cell_options: Mapping[str, Any] | None = None,
) -> SequenceLayer:
    """``num_layers`` unrolls of the registered ``cell``, stacked; one layer is returned bare.

    Example::

        layers = build_layers("gru", input_size=1, hidden_size=128, num_layers=2)
    """
    check_positive("hidden_size", hidden_size)
    check_positive("num_layers", num_layers)
    layers: list[SequenceLayer] = []
    size = input_size
    for _ in range(num_layers):
        layer = cell_layer(cell, size, hidden_size, bidirectional, fast, cell_options)
        layers.append(layer)
        size = layer.output_size
    if len(layers) == 1:
        return layers[0]
    return Stacked(layers, dropout=dropout, residual=residual)


def cell_layer(
    cell: str,
    input_size: int,
    hidden_size: int,
    bidirectional: bool = False,
    fast: bool = True,
    cell_options: Mapping[str, Any] | None = None,
) -> SequenceLayer:
    """One unroll of the registered ``cell`` over time: :class:`Recurrent`, or a
    :class:`Bidirectional` pair of fresh cells."""
    options = dict(cell_options or {})
    if bidirectional:
        return Bidirectional(
            make_cell(cell, input_size, hidden_size, **options),
            make_cell(cell, input_size, hidden_size, **options),
            fast=fast,
        )
    return Recurrent(make_cell(cell, input_size, hidden_size, **options), fast=fast)
