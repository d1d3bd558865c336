"""Layers that take any cell: unroll (BPTT), bidirectional, stacked, dilated."""

from rnnlab.layers.base import SequenceLayer, last_step
from rnnlab.layers.bidirectional import Bidirectional, BidirectionalState, reverse_padded
from rnnlab.layers.build import build_layers
from rnnlab.layers.deep import DeepStacked, DeepStackedState, build_deep_stacked
from rnnlab.layers.dilated import Dilated, DilatedState, build_dilated
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stacked import Stacked, StackedState
from rnnlab.layers.trajectory import LayerTrajectory, layer_trajectories

__all__ = [
    "Bidirectional",
    "BidirectionalState",
    "DeepStacked",
    "DeepStackedState",
    "Dilated",
    "DilatedState",
    "LayerTrajectory",
    "Recurrent",
    "SequenceLayer",
    "Stacked",
    "StackedState",
    "build_deep_stacked",
    "build_dilated",
    "build_layers",
    "last_step",
    "layer_trajectories",
    "reverse_padded",
]
