"""Base of the cells that wrap another cell and change its step (zoneout, dropout)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.cells.base import Cell, State


class CellWrapper(Cell):
    """A cell around ``cell``: same sizes, initial state, input projection and per-unroll
    context; subclasses override :meth:`step`.

    The wrapped cell is a submodule, so its parameters appear as ``cell.<name>``.
    """

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            name = type(self).__name__
            raise TypeError(f"{name} needs an rnnlab Cell, got {type(cell).__name__}")
        self.cell = cell
        self.input_size = cell.input_size
        self.hidden_size = cell.hidden_size
        self.output_size = cell.output_size

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> State:
        return self.cell.initial_state(batch, device=device, dtype=dtype)

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        with self.cell.unrolling():
            yield

    def manifold_parameters(self) -> list[nn.Parameter]:
        return self.cell.manifold_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        return self.cell.project_input(x)

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self.cell.step(p_t, state)


def check_probability(name: str, p: float, *, allow_one: bool = False) -> float:
    """Raise a one-line ``ValueError`` unless ``p`` is a probability in ``[0, 1)`` (or
    ``[0, 1]`` with ``allow_one``); return it as a float."""
    is_number = isinstance(p, (int, float)) and not isinstance(p, bool)
    if not (is_number and p >= 0 and (p <= 1 if allow_one else p < 1)):
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name} must be a probability in {interval}, got {p!r}")
    return float(p)


def state_fields(cell: Cell) -> tuple[str, ...]:
    """Field names of ``cell``'s NamedTuple state (built for one row to read them)."""
    return tuple(getattr(cell.initial_state(1), "_fields", ()))
