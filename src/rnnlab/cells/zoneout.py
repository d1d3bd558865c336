"""Zoneout (Krueger et al. 2016): units keep their previous value at random."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from rnnlab.cells.base import Cell, State, zip_map_state
from rnnlab.cells.cell_wrapper import CellWrapper, check_probability, state_fields


class Zoneout(CellWrapper):
    r"""Zoneout around any cell: each state unit keeps its previous value with probability
    ``p`` instead of taking the new one.

    .. math::
        \begin{aligned}
        (\tilde y_t, \tilde s_t) &= F_\text{cell}(x_t, s_{t-1}) \\
        \text{training:}\quad s_t &= d_t \odot s_{t-1} + (1 - d_t) \odot \tilde s_t,
            \qquad d_t \sim \mathrm{Bernoulli}(p) \text{ per unit and step} \\
        \text{evaluation:}\quad s_t &= p\, s_{t-1} + (1 - p)\, \tilde s_t
        \end{aligned}

    The field ``c`` of the state (an LSTM's memory) uses ``p_c``, every other field ``p_h``;
    non-float fields (counters) always take the new value. When the cell's output is its
    state's ``h`` (Elman, LSTM, GRU: ``y_t is s_t.h``), the output is the zoned-out ``h``;
    otherwise it is the cell's own output. Unlike dropout, a zoned-out unit passes its
    value (and its gradient) on unchanged, so the identity path through time survives.

    Args:
        cell: the wrapped cell.
        p_h: zoneout probability of the state's fields other than ``c``.
        p_c: zoneout probability of the field ``c``.

    Shapes: as the wrapped cell's.

    Example::

        cell = Zoneout(LSTMCell(3, 16), p_h=0.05, p_c=0.5)
        y, s = cell(torch.randn(4, 3), cell.initial_state(4))

    Notes:
        Krueger et al. report their best LSTM language models with a much larger rate on
        the cells than on the hidden state (``p_c = 0.5, p_h = 0.05``), which is the order
        of the defaults here. The masks come from torch's global generator.
    """

    def __init__(self, cell: Cell, p_h: float = 0.05, p_c: float = 0.1) -> None:
        super().__init__(cell)
        self.p_h = check_probability("p_h", p_h, allow_one=True)
        self.p_c = check_probability("p_c", p_c, allow_one=True)
        fields = state_fields(cell)
        if not fields:
            raise ValueError(f"Zoneout needs a NamedTuple state, got {type(cell).__name__}'s")

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        y_t, new = self.cell.step(p_t, state)
        fields = []
        for name, n_field, o_field in zip(new._fields, new, state, strict=True):
            p = self.p_c if name == "c" else self.p_h
            fields.append(zip_map_state(functools.partial(self._zone, p=p), n_field, o_field))
        zoned = type(new)(*fields)
        if "h" in new._fields and y_t is new.h:
            y_t = zoned.h
        return y_t, zoned

    def _zone(self, new: Tensor, old: Tensor, p: float) -> Tensor:
        if p == 0 or not new.is_floating_point():
            return new
        if self.training:
            # keep the old value where d_t = 1
            return torch.where(torch.rand_like(new) < p, old, new)
        # the expectation, p * old + (1 - p) * new
        return torch.lerp(new, old, p)

    def extra_repr(self) -> str:
        return f"p_h={self.p_h}, p_c={self.p_c}"
