"""Layers that take any cell: unroll (BPTT), bidirectional, stacked."""

from rnnlab.layers.base import SequenceLayer, last_step
from rnnlab.layers.bidirectional import Bidirectional, BidirectionalState, reverse_padded
from rnnlab.layers.build import build_layers
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stacked import Stacked, StackedState

__all__ = [
    "Bidirectional",
    "BidirectionalState",
    "Recurrent",
    "SequenceLayer",
    "Stacked",
    "StackedState",
    "build_layers",
    "last_step",
    "reverse_padded",
]
