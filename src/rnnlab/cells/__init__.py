"""Recurrent cells: one step each, ``forward(x_t, state) -> (y_t, state)``."""

from rnnlab.cells.base import (
    Cell,
    State,
    detach_state,
    map_state,
    select_rows,
    where_state,
    zip_map_state,
)
from rnnlab.cells.elman import ElmanCell, ElmanState
from rnnlab.cells.gru import GRUCell, GRUState
from rnnlab.cells.lstm import LSTMCell, LSTMState
from rnnlab.cells.registry import CellEntry, cell_entry, cell_names, make_cell, register_cell

__all__ = [
    "Cell",
    "CellEntry",
    "ElmanCell",
    "ElmanState",
    "GRUCell",
    "GRUState",
    "LSTMCell",
    "LSTMState",
    "State",
    "cell_entry",
    "cell_names",
    "detach_state",
    "make_cell",
    "map_state",
    "register_cell",
    "select_rows",
    "where_state",
    "zip_map_state",
]
