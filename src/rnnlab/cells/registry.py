"""Registry of cells by name, each with a one-line description and a builder.

Later cell families join with :func:`register_cell`; the conformance suite in
``tests/`` runs over every entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rnnlab.cells.base import Cell
from rnnlab.cells.cayley import CayleyCell
from rnnlab.cells.elman import ElmanCell
from rnnlab.cells.exprnn import ExpRNNCell
from rnnlab.cells.fullurnn import FullURNNCell
from rnnlab.cells.gru import GRUCell
from rnnlab.cells.lstm import LSTMCell
from rnnlab.cells.urnn import URNNCell

CellBuilder = Callable[[int, int], Cell]


@dataclass(frozen=True)
class CellEntry:
    name: str
    description: str
    build: CellBuilder  # (input_size, hidden_size) -> Cell


_CELLS: dict[str, CellEntry] = {}


def register_cell(name: str, description: str, build: CellBuilder) -> None:
    """Add a cell family to the registry under ``name``."""
    if name in _CELLS:
        raise ValueError(f"cell {name!r} is already registered")
    _CELLS[name] = CellEntry(name, description, build)


def cell_names() -> list[str]:
    return sorted(_CELLS)


def cell_entry(name: str) -> CellEntry:
    if name not in _CELLS:
        raise ValueError(f"unknown cell {name!r}; expected one of {', '.join(cell_names())}")
    return _CELLS[name]


def make_cell(name: str, input_size: int, hidden_size: int) -> Cell:
    """Build the registered cell ``name`` for ``input_size`` features and ``hidden_size`` units."""
    return cell_entry(name).build(input_size, hidden_size)


register_cell("elman", "Elman tanh RNN, h_t = tanh(W x_t + U h_{t-1} + b)", ElmanCell)
register_cell(
    "elman_relu",
    "Elman RNN with ReLU, h_t = relu(W x_t + U h_{t-1} + b)",
    lambda d, h: ElmanCell(d, h, nonlinearity="relu"),
)
register_cell("lstm", "LSTM with forget gate (gates i, f, g, o; forget bias 1)", LSTMCell)
register_cell("gru", "GRU, reset gate after the recurrent matmul as in torch.nn.GRU", GRUCell)
register_cell(
    "urnn",
    "Unitary RNN (Arjovsky et al. 2016), W = D3 R2 F^-1 D2 Pi R1 F D1, modReLU; N complex units",
    URNNCell,
)
register_cell(
    "fullurnn",
    "Full-capacity unitary RNN (Wisdom et al. 2016), W = expm(S), S skew-Hermitian; modReLU",
    FullURNNCell,
)
register_cell(
    "exprnn",
    "Orthogonal RNN by the exponential map (expRNN, 2019), W = expm(A - A^T), modReLU",
    ExpRNNCell,
)
register_cell(
    "cayley",
    "Orthogonal RNN by the scaled Cayley transform (scoRNN, 2018), W = (I+S)^-1 (I-S) D",
    CayleyCell,
)
