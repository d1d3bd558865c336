"""The one abstraction: a cell is one step, ``s_t = F(s_{t-1}, x_t)``.

Shape glossary used throughout rnnlab: ``B`` batch, ``T`` time, ``D`` input features,
``H`` hidden units, ``P`` width of the projected input.

A cell maps ``(x_t, state) -> (y_t, state')`` for one time step. To let the unroll hoist
the input-to-hidden matmul out of the time loop (one large matmul for all ``W x_t``),
every cell splits its step in two:

* ``project_input(x)``: the part that depends on ``x`` only, ``(..., D) -> (..., P)``;
  applied once to the whole ``(B, T, D)`` sequence by :class:`rnnlab.layers.Recurrent`.
* ``step(p_t, state)``: the recurrence proper on the projected input ``(B, P)``.

``forward(x_t, state)`` is ``step(project_input(x_t), state)``.

States are ``NamedTuple`` s of tensors (``LSTMState(h, c)``), so generic helpers such as
:func:`map_state` can detach them (truncated BPTT), select batch rows (beam search) or
keep them fixed on padded steps; they live in :mod:`rnnlab._tree` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._tree import (
    State,
    detach_state,
    map_state,
    select_rows,
    where_state,
    zip_map_state,
)

__all__ = [
    "Cell",
    "State",
    "check_chrono",
    "check_step_input",
    "detach_state",
    "map_state",
    "select_rows",
    "where_state",
    "zip_map_state",
]


class Cell(nn.Module):
    """Base class of every recurrent cell: one time step of ``s_t = F(s_{t-1}, x_t)``.

    Subclasses set ``input_size``, ``hidden_size`` and ``output_size`` and implement
    :meth:`initial_state` and :meth:`step`; they override :meth:`project_input` when part of
    the step depends on the input only (the hoisted ``W x_t + b``).

    ``fused_mode`` names the PyTorch fused kernel with the same parametrisation
    (``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"``) or is ``None``; cells with a
    fused mode keep parameters named ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``
    in PyTorch's layout so :class:`rnnlab.layers.Recurrent` can dispatch to the kernel.
    """

    input_size: int
    hidden_size: int
    output_size: int
    fused_mode: str | None = None

    def initial_state(
        self,
        batch: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        raise NotImplementedError

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        """Context of one unroll over time: the cell may cache tensors derived from its
        parameters (e.g. an orthogonal ``W = exp(A)``) once for all the steps inside it.

        :class:`rnnlab.layers.Recurrent` enters it around its time loop; a cell called step
        by step outside it recomputes them each step. Default: nothing to cache.
        """
        yield

    def on_progress(self, fraction: float) -> None:
        """Called by the trainer before every training step with the fraction of the run
        done (``0..1``, steps or time budget, whichever is further): for schedules inside
        a cell (the HM-RNN's boundary slope). Nothing by default."""

    def manifold_parameters(self) -> list[nn.Parameter]:
        """Parameters of a constrained (orthogonal / unitary) recurrence, which training
        may give their own learning rate; none by default."""
        return []

    def project_input(self, x: Tensor) -> Tensor:
        """The input-only part of the step, ``(..., D) -> (..., P)``; identity by default."""
        return x

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step on the projected input ``p_t`` of shape ``(B, P)``."""
        raise NotImplementedError

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step: ``(B, D)`` input and state -> ``(B, output_size)`` output and state."""
        check_step_input(x_t, self.input_size)
        return self.step(self.project_input(x_t), state)

    def _zeros(self, batch: int, device: Any, dtype: torch.dtype | None) -> Tensor:
        ref = next(self.parameters(), None)
        if device is None and ref is not None:
            device = ref.device
        if dtype is None:
            dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        return torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)


def check_chrono(max_delay: int) -> None:
    """Chrono initialisation draws from ``U(1, max_delay - 1)``: it needs ``max_delay > 2``."""
    if isinstance(max_delay, bool) or not isinstance(max_delay, int) or max_delay <= 2:
        raise ValueError(f"chrono max_delay must be an integer above 2, got {max_delay!r}")


def check_step_input(x_t: Tensor, input_size: int) -> None:
    if x_t.dim() != 2 or x_t.shape[-1] != input_size:
        raise ValueError(f"cell input must have shape (B, {input_size}), got {tuple(x_t.shape)}")
