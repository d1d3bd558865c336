"""Recurrent cells: one step each, ``forward(x_t, state) -> (y_t, state)``."""

from rnnlab.cells.base import (
    Cell,
    State,
    StatePart,
    decoding,
    detach_state,
    map_state,
    select_rows,
    step_loop,
    where_state,
    zip_map_state,
)
from rnnlab.cells.cayley import CayleyCell, CayleyState
from rnnlab.cells.cell_wrapper import CellWrapper
from rnnlab.cells.clockwork import ClockworkCell, ClockworkState
from rnnlab.cells.deep_transition import DeepTransitionCell, DeepTransitionState
from rnnlab.cells.delay import DelayCell, DelayState
from rnnlab.cells.deltanet import DeltaNetCell, DeltaNetState
from rnnlab.cells.elman import ElmanCell, ElmanState
from rnnlab.cells.exprnn import ExpRNNCell, ExpRNNState
from rnnlab.cells.fullurnn import FullURNNCell, FullURNNState
from rnnlab.cells.gru import GRUCell, GRUState
from rnnlab.cells.hmrnn import HMRNNCell, HMRNNState
from rnnlab.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
from rnnlab.cells.linear_scan import linear_scan, log_linear_scan
from rnnlab.cells.lru import LRUCell
from rnnlab.cells.lru_block import LRUBlockCell
from rnnlab.cells.lstm import LSTMCell, LSTMState
from rnnlab.cells.mamba import MambaCell, MambaState
from rnnlab.cells.minimal import MinGRUCell, MinLSTMCell
from rnnlab.cells.mlstm import MLSTMCell
from rnnlab.cells.mrnn import MRNNCell, MRNNState
from rnnlab.cells.multiplicative_integration import MIElmanCell, MIGRUCell, MILSTMCell
from rnnlab.cells.registry import CellEntry, cell_entry, cell_names, make_cell, register_cell
from rnnlab.cells.s6 import S6Cell
from rnnlab.cells.scan_cell import LinearScanCell, ScanState
from rnnlab.cells.urnn import URNNCell, URNNState
from rnnlab.cells.variational_dropout import VariationalDropout
from rnnlab.cells.zoneout import Zoneout

__all__ = [
    "CayleyCell",
    "CayleyState",
    "Cell",
    "CellEntry",
    "CellWrapper",
    "ClockworkCell",
    "ClockworkState",
    "DeepTransitionCell",
    "DeepTransitionState",
    "DelayCell",
    "DelayState",
    "DeltaNetCell",
    "DeltaNetState",
    "ElmanCell",
    "ElmanState",
    "ExpRNNCell",
    "ExpRNNState",
    "FullURNNCell",
    "FullURNNState",
    "GRUCell",
    "GRUState",
    "HMRNNCell",
    "HMRNNState",
    "LRUBlockCell",
    "LRUCell",
    "LSTMCell",
    "LSTMState",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "LinearScanCell",
    "MIElmanCell",
    "MIGRUCell",
    "MILSTMCell",
    "MLSTMCell",
    "MRNNCell",
    "MRNNState",
    "MambaCell",
    "MambaState",
    "MinGRUCell",
    "MinLSTMCell",
    "S6Cell",
    "ScanState",
    "State",
    "StatePart",
    "URNNCell",
    "URNNState",
    "VariationalDropout",
    "Zoneout",
    "cell_entry",
    "cell_names",
    "decoding",
    "detach_state",
    "linear_scan",
    "log_linear_scan",
    "make_cell",
    "map_state",
    "register_cell",
    "select_rows",
    "step_loop",
    "where_state",
    "zip_map_state",
]
