"""Variational (recurrent) dropout (Gal & Ghahramani 2016): one mask per sequence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor

from rnnlab.cells.base import Cell, State
from rnnlab.cells.cell_wrapper import CellWrapper, check_probability, state_fields


class VariationalDropout(CellWrapper):
    r"""Dropout on the recurrent input ``h_{t-1}`` of any cell, with the *same* mask at
    every step of a sequence.

    .. math::
        \begin{aligned}
        m &\sim \mathrm{Bernoulli}(1 - p)^{B \times H} / (1 - p)
            \qquad \text{once per unroll} \\
        (y_t, s_t) &= F_\text{cell}(x_t, s_{t-1} \text{ with } h_{t-1} \to m \odot h_{t-1})
        \end{aligned}

    The mask is drawn at the first step inside :meth:`unrolling` (which
    :class:`~rnnlab.layers.Recurrent` enters around its time loop) and kept until the
    unroll ends; each unroll draws a new one. Called step by step *outside* an unroll
    (``cell(x_t, state)``), every call draws its own mask; enter ``with cell.unrolling():``
    around a hand-written loop to keep one mask for it. In eval mode the cell is the
    wrapped cell (inverted dropout: the training mask is scaled by ``1 / (1 - p)``).

    Only the input ``h_{t-1}`` of the step is masked; the state carried on (an LSTM's
    ``c``, and ``h`` itself) is the cell's own. For an LSTM, where ``h_{t-1}`` enters only
    the recurrent matmul, this is Gal & Ghahramani's recurrent dropout exactly; for a GRU,
    whose ``h_{t-1}`` also enters the interpolation ``z h_{t-1}``, the mask reaches it too.

    Args:
        cell: the wrapped cell; its state must have a field ``h``.
        p: probability of dropping a unit.

    Shapes: as the wrapped cell's.

    Example::

        cell = VariationalDropout(LSTMCell(3, 16), p=0.25)
        y, s = Recurrent(cell)(torch.randn(4, 50, 3))

    Notes:
        Gal & Ghahramani also drop the inputs ``x_t`` (and the outputs) with masks fixed
        over time; that dropout between layers belongs to the layers
        (:class:`~rnnlab.layers.Stacked`), so this cell drops ``h_{t-1}`` only. Masks come
        from torch's global generator.
    """

    def __init__(self, cell: Cell, p: float = 0.25) -> None:
        super().__init__(cell)
        self.p = check_probability("p", p)
        if "h" not in state_fields(cell):
            raise ValueError(
                f"VariationalDropout needs a state with a field 'h', got {type(cell).__name__}'s"
            )
        self._in_unroll = False
        self._mask: Tensor | None = None

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        outer = (self._in_unroll, self._mask)
        self._in_unroll, self._mask = True, None
        try:
            with self.cell.unrolling():
                yield
        finally:
            self._in_unroll, self._mask = outer

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        if self.training and self.p > 0:
            state = state._replace(h=state.h * self._mask_like(state.h))
        return self.cell.step(p_t, state)

    def _mask_like(self, h: Tensor) -> Tensor:
        mask = self._mask
        if mask is not None and mask.shape == h.shape and mask.dtype == h.dtype:
            return mask  # the mask of this unroll
        # inverted dropout: keep with probability 1 - p, scale by 1 / (1 - p)
        mask = h.new_empty(h.shape).bernoulli_(1 - self.p) / (1 - self.p)
        if self._in_unroll:
            self._mask = mask
        return mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
