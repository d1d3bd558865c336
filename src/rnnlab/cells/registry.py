"""Registry of cells by name, each with a one-line description and a builder.

Later cell families join with :func:`register_cell`; the conformance suite in
``tests/`` runs over every entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from rnnlab._registry import Registry
from rnnlab.cells.base import Cell
from rnnlab.cells.cayley import CayleyCell
from rnnlab.cells.clockwork import ClockworkCell
from rnnlab.cells.deep_transition import DeepTransitionCell
from rnnlab.cells.delay import DelayCell
from rnnlab.cells.deltanet import DeltaNetCell
from rnnlab.cells.elman import ElmanCell
from rnnlab.cells.exprnn import ExpRNNCell
from rnnlab.cells.fullurnn import FullURNNCell
from rnnlab.cells.gru import GRUCell
from rnnlab.cells.hmrnn import HMRNNCell
from rnnlab.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
from rnnlab.cells.lru import LRUCell
from rnnlab.cells.lru_block import LRUBlockCell
from rnnlab.cells.lstm import LSTMCell
from rnnlab.cells.mamba import MambaCell
from rnnlab.cells.minimal import MinGRUCell, MinLSTMCell
from rnnlab.cells.mlstm import MLSTMCell
from rnnlab.cells.mrnn import MRNNCell
from rnnlab.cells.multiplicative_integration import MIElmanCell, MIGRUCell, MILSTMCell
from rnnlab.cells.s6 import S6Cell
from rnnlab.cells.urnn import URNNCell
from rnnlab.cells.variational_dropout import VariationalDropout
from rnnlab.cells.zoneout import Zoneout

CellBuilder = Callable[..., Cell]


@dataclass(frozen=True)
class CellEntry:
    name: str
    description: str
    build: CellBuilder  # (input_size, hidden_size, **options) -> Cell

    def options(self) -> dict[str, Any]:
        """The options the builder takes (keyword arguments after the two sizes), with
        their defaults (``inspect.Parameter.empty`` when required)."""
        params = list(inspect.signature(self.build).parameters.values())[2:]
        return {p.name: p.default for p in params if p.kind is not p.VAR_KEYWORD}

    def accepts_any_option(self) -> bool:
        params = inspect.signature(self.build).parameters.values()
        return any(p.kind is p.VAR_KEYWORD for p in params)


_CELLS: Registry[CellEntry] = Registry(
    "cell", "a cell of your own: register_cell in a plugin, loaded with --plugin FILE.py"
)


def register_cell(name: str, description: str, build: CellBuilder) -> None:
    """Add a cell family to the registry under ``name``."""
    _CELLS.add(name, CellEntry(name, description, build))


def cell_names() -> list[str]:
    return _CELLS.names()


def cell_entry(name: str) -> CellEntry:
    return _CELLS[name]


def make_cell(name: str, input_size: int, hidden_size: int, **options: Any) -> Cell:
    """Build the registered cell ``name`` for ``input_size`` features and ``hidden_size`` units,
    with the builder's keyword ``options`` (``make_cell("zoneout_lstm", 8, 32, p_h=0.1)``).

    A builder that returns something other than a :class:`Cell` with the protocol's sizes
    is a one-line error naming the cell (custom cells registered by users included).
    """
    entry = check_cell_options(name, options)
    cell = entry.build(input_size, hidden_size, **options)
    check_cell(name, cell, input_size)
    return cell


def check_cell_options(name: str, options: Mapping[str, Any]) -> CellEntry:
    """The cell's registry entry; a one-line error for an option its builder does not take."""
    entry = cell_entry(name)
    known = entry.options()
    unknown = sorted(set(options) - set(known))
    if unknown and not entry.accepts_any_option():
        expected = ", ".join(known) if known else "none"
        raise ValueError(f"cell {name!r} has no option {unknown[0]!r}; its options: {expected}")
    return entry


def check_cell(name: str, cell: Any, input_size: int) -> None:
    """One-line errors for a registered builder whose result breaks the cell protocol."""
    if not isinstance(cell, Cell):
        raise TypeError(f"cell {name!r}: the builder returned {type(cell).__name__}, not a Cell")
    for size in ("input_size", "hidden_size", "output_size"):
        value = getattr(cell, size, None)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise TypeError(f"cell {name!r} must set {size} to a positive int, got {value!r}")
    if cell.input_size != input_size:
        raise TypeError(
            f"cell {name!r} was built for {input_size} input features but says "
            f"input_size={cell.input_size}"
        )
    if not type(cell).__module__.startswith("rnnlab."):
        check_custom_step(name, cell)


def check_custom_step(name: str, cell: Cell) -> None:
    """One step of a cell defined outside rnnlab, on a zero input of batch 1 (the RNG state
    is restored, so building a model stays reproducible): its state must be a NamedTuple and
    its step must take the width ``project_input`` gives and return ``output_size``
    features."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        state = cell.initial_state(1)
        if not (isinstance(state, tuple) and hasattr(state, "_fields")):
            raise TypeError(
                f"cell {name!r}: initial_state must return a NamedTuple of tensors "
                f"(e.g. class {type(cell).__name__}State(NamedTuple): h: Tensor), "
                f"got {type(state).__name__}"
            )
        ref = next(cell.parameters(), None)
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        projected = cell.project_input(torch.zeros(1, cell.input_size, dtype=dtype))
        try:
            y, new = cell.step(projected, state)
        except (RuntimeError, ValueError, IndexError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"cell {name!r}: step() fails on project_input's output of width "
                f"{projected.shape[-1]}: {first}"
            ) from None
        if y.shape[-1] != cell.output_size:
            raise ValueError(
                f"cell {name!r}: step() returns {y.shape[-1]} features but output_size is "
                f"{cell.output_size}"
            )
        if type(new) is not type(state):
            raise TypeError(
                f"cell {name!r}: step() must return its state as {type(state).__name__}, "
                f"got {type(new).__name__}"
            )


register_cell("elman", "Elman tanh RNN, h_t = tanh(W x_t + U h_{t-1} + b)", ElmanCell)
register_cell(
    "elman_relu",
    "Elman RNN with ReLU, h_t = relu(W x_t + U h_{t-1} + b)",
    lambda d, h, nonlinearity="relu": ElmanCell(d, h, nonlinearity=nonlinearity),
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
register_cell(
    "clockwork",
    "Clockwork RNN (Koutnik et al. 2014): tanh modules with periods 1, 2, 4, ...; module i "
    "updates when its period divides t and reads only slower modules (g = largest <= 8 "
    "dividing H)",
    ClockworkCell,
)
register_cell(
    "delay",
    "Elman tanh RNN with skip connections through time: also reads h_{t-2}, h_{t-4}, h_{t-8}",
    lambda d, h, delays=(2, 4, 8): DelayCell.build(ElmanCell, d, h, delays=tuple(delays)),
)
register_cell(
    "mrnn",
    "Multiplicative RNN (Sutskever et al. 2011), f = diag(W_fx x) W_fh h; H factors",
    MRNNCell,
)
register_cell(
    "mlstm",
    "Multiplicative LSTM (Krause et al. 2016), gates read m = (W_mx x) * (W_mh h)",
    MLSTMCell,
)
register_cell(
    "mi_elman",
    "Elman tanh RNN with multiplicative integration (Wu et al. 2016), a*Wx*Uh + b1*Uh + b2*Wx",
    MIElmanCell,
)
register_cell("mi_lstm", "LSTM with multiplicative integration (Wu et al. 2016)", MILSTMCell)
register_cell("mi_gru", "GRU with multiplicative integration (Wu et al. 2016)", MIGRUCell)
register_cell(
    "dt_elman",
    "Deep-transition tanh RNN (Pascanu et al. 2014), a 2-layer MLP inside each step",
    DeepTransitionCell,
)
register_cell(
    "ln_lstm",
    "Layer-normalised LSTM (Ba et al. 2016), per-gate LN of Wx, Uh and of c",
    LayerNormLSTMCell,
)
register_cell("ln_gru", "Layer-normalised GRU, per-gate LN of Wx and Uh", LayerNormGRUCell)
register_cell(
    "zoneout_lstm",
    "LSTM with zoneout (Krueger et al. 2016), p_h = 0.05, p_c = 0.1",
    lambda d, h, p_h=0.05, p_c=0.1: Zoneout(LSTMCell(d, h), p_h=p_h, p_c=p_c),
)
register_cell(
    "vd_lstm",
    "LSTM with variational recurrent dropout on h (Gal & Ghahramani 2016), p = 0.25",
    lambda d, h, p=0.25: VariationalDropout(LSTMCell(d, h), p=p),
)
register_cell(
    "hmrnn",
    "Hierarchical multiscale LSTM (Chung et al. 2016): 3 layers of H units with learned "
    "boundaries (UPDATE / COPY / FLUSH, straight-through, slope 1); output all layers' h, 3H",
    HMRNNCell,
)

# linear recurrences that train as one scan over time (issue 15)
register_cell(
    "mingru",
    "minGRU (Feng et al. 2024): h = (1-z) h + z g(W x), gates from x only; parallel scan",
    MinGRUCell,
)
register_cell(
    "minlstm",
    "minLSTM (Feng et al. 2024): h = f' h + i' g(W x), normalised gates from x; parallel scan",
    MinLSTMCell,
)
register_cell(
    "lru",
    "Linear recurrent unit (Orvieto et al. 2023): complex diagonal lambda, gamma "
    "normalisation, ring init, y = Re(C h) + D x; parallel scan",
    LRUCell,
)
register_cell(
    "lru_block",
    "LRU block (Orvieto et al. 2023): LayerNorm, the LRU, GELU and a gated linear unit "
    "(y = (W1 g) * sigmoid(W2 g)); parallel scan",
    LRUBlockCell,
)
register_cell(
    "s6",
    "Selective state space (Mamba's S6, Gu & Dao 2023): input-dependent Delta, B, C, "
    "h = exp(Delta A) h + Delta B u, N=16 per channel; parallel scan",
    S6Cell,
)
register_cell(
    "mamba",
    "Mamba block (Gu & Dao 2023): in-projection (E = 2H), causal depthwise conv (K=4), SiLU, "
    "S6, SiLU gate, out-projection",
    MambaCell,
)
register_cell(
    "deltanet",
    "DeltaNet (Yang et al. 2024): matrix state S += beta (v - S k) k^T, y = S q; recurrent form",
    DeltaNetCell,
)
