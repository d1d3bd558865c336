"""Delay (skip-through-time) connections around any cell: the step also reads h_{t-d}."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, State


class DelayState(NamedTuple):
    inner: Any  # the inner cell's state
    history: Tensor  # (B, max_d, H): history[:, j] = y_{t-1-j}, zeros before the first step


def check_delays(delays: Sequence[int]) -> tuple[int, ...]:
    """Delays as a tuple: at least one, each a positive integer, no repeats."""
    delays = tuple(delays)
    if not delays:
        raise ValueError("delays must name at least one delay, got none")
    for d in delays:
        check_positive("every delay", d)
    if len(set(delays)) != len(delays):
        raise ValueError(f"delays must be distinct, got {delays}")
    return delays


class DelayCell(Cell):
    r"""Any cell whose step also reads its own outputs from ``d`` steps back, for each
    ``d`` in ``delays`` (explicit delays / skip connections through time, Lin, Horne,
    Tino & Giles 1996; Goodfellow, Bengio & Courville 2016, section 10.9.1).

    .. math::
        \begin{aligned}
        z_t &= [x_t;\ y_{t-d_1};\ \dots;\ y_{t-d_k}] \qquad (y_{s} = 0 \text{ for } s < 0) \\
        (y_t, s_t) &= F_\text{inner}(z_t, s_{t-1})
        \end{aligned}

    A path through the delay-``d`` connections reaches ``T`` steps back in ``T/d``
    transitions, so gradients from far back vanish ``d`` times more slowly.

    The state keeps the last ``max(delays)`` outputs, newest first, next to the inner
    cell's state: ``DelayState(inner, history)``. Padded steps leave both unchanged.

    Args:
        inner: the wrapped cell (kept as the submodule ``cell``); its ``input_size`` must be
            ``D + len(delays) * H`` with ``H = inner.output_size`` (:meth:`build` computes
            it for you).
        delays: distinct positive delays; ``1`` repeats the inner recurrence's own input.

    Shapes: ``x_t (B, D)``, ``state.history (B, max(delays), H)`` -> ``y_t (B, H)``.

    Example::

        cell = DelayCell.build(GRUCell, input_size=3, hidden_size=32, delays=(4, 16))
        y, state = Recurrent(cell)(torch.randn(8, 100, 3))

    Notes:
        The history is a shift register (``[y_t; history[:-1]]`` every step) rather than
        a ring buffer with a read pointer: under autograd both must build a new buffer
        each step (an in-place write would clobber tensors saved for backward), and the
        shift needs no per-row pointer, so padding works with the generic helpers. Its
        cost is ``O(B max(delays) H)`` copies per step. The input projection cannot be
        hoisted out of the time loop (``z_t`` depends on the state), so the inner cell's
        ``project_input`` runs once per step.
    """

    def __init__(self, inner: Cell, delays: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(inner, Cell):
            raise TypeError(f"DelayCell needs an rnnlab Cell, got {type(inner).__name__}")
        self.delays = check_delays(delays)
        H = inner.output_size
        extra = len(self.delays) * H
        if inner.input_size <= extra:
            raise ValueError(
                f"inner cell input_size {inner.input_size} leaves no room for x_t next to "
                f"{len(self.delays)} delayed outputs of size {H}"
            )
        self.cell = inner
        self.input_size = inner.input_size - extra
        self.hidden_size = H
        self.output_size = H
        self.max_delay = max(self.delays)

    @classmethod
    def build(
        cls,
        factory: Callable[[int, int], Cell],
        input_size: int,
        hidden_size: int,
        delays: Sequence[int],
    ) -> DelayCell:
        """Wrap ``factory(input_size + len(delays) * hidden_size, hidden_size)``.

        ``factory`` is a cell class or a registry builder, e.g.
        ``DelayCell.build(cell_entry("gru").build, 3, 32, (4, 16))``.
        """
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        delays = check_delays(delays)
        inner = factory(input_size + len(delays) * hidden_size, hidden_size)
        if inner.output_size != hidden_size:
            raise ValueError(
                f"inner cell outputs {inner.output_size} features, expected {hidden_size}"
            )
        return cls(inner, delays)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> DelayState:
        inner = self.cell.initial_state(batch, device=device, dtype=dtype)
        ref = self._zeros(batch, device, dtype)
        history = ref.new_zeros(batch, self.max_delay, self.output_size)
        return DelayState(inner, history)

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        with self.cell.unrolling():
            yield

    def manifold_parameters(self) -> list[nn.Parameter]:
        return self.cell.manifold_parameters()

    def step(self, p_t: Tensor, state: DelayState) -> tuple[Tensor, DelayState]:
        inner_state: State = state.inner
        history = state.history  # (B, max_d, H), newest first
        # z_t = [x_t; y_{t-d_1}; ...; y_{t-d_k}]
        z = torch.cat([p_t, *(history[:, d - 1] for d in self.delays)], dim=-1)
        y, inner_state = self.cell.step(self.cell.project_input(z), inner_state)
        # push y_t, drop y_{t-max_d}
        history = torch.cat([y.unsqueeze(1), history[:, : self.max_delay - 1]], dim=1)
        return y, DelayState(inner_state, history)
