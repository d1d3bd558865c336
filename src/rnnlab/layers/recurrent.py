"""Unrolling a cell over time (backpropagation through time)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.base import Cell, State, step_loop
from rnnlab.layers.base import SequenceLayer, check_sequence_input, check_state


class Recurrent(SequenceLayer):
    r"""Unroll any cell over a batch-first sequence: BPTT through the unfolded graph.

    .. math:: (y_t, s_t) = F_\theta(x_t, s_{t-1}), \quad t = 1..T

    With ``fast=True`` (the default) the unroll is the cell's own
    :meth:`~rnnlab.cells.Cell.scan`: for a plain :class:`~rnnlab.cells.ElmanCell`,
    :class:`~rnnlab.cells.LSTMCell` or :class:`~rnnlab.cells.GRUCell` that is PyTorch's
    fused kernel (oneDNN on CPU, cuDNN on GPU) with the cell's own parameters, variable
    lengths going through packed sequences; for other cells the step loop. With
    ``fast=False`` it is always the step loop (:func:`rnnlab.cells.base.step_loop`): the
    input-only part of every step (``cell.project_input``, e.g. ``W x_t + b``) runs as one
    matmul over all steps, then the loop iterates with ``unbind(1)`` over the time axis.
    Outputs and gradients of the two agree up to float rounding.

    Args:
        cell: any :class:`~rnnlab.cells.Cell`.
        fast: run the cell's ``scan`` (a fused kernel when the cell has one).

    Shapes: ``x (B, T, D)``, optional ``lengths (B,)`` in ``[1, T]`` ->
    ``y (B, T, output_size)`` (zero on padded steps) and the state after each row's last
    real step.

    Example::

        layer = Recurrent(LSTMCell(3, 32))
        y, state = layer(torch.randn(8, 50, 3))
    """

    def __init__(self, cell: Cell, fast: bool = True) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"Recurrent needs an rnnlab Cell, got {type(cell).__name__}")
        self.cell = cell
        self.fast = fast
        self.input_size = cell.input_size
        self.output_size = cell.output_size

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> State:
        return self.cell.initial_state(batch, device=device, dtype=dtype)

    @property
    def uses_fused_kernel(self) -> bool:
        return self.fast and self.cell.uses_fused_kernel

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        check_sequence_input(x, self.input_size, lengths)
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        else:
            check_state(state, self.initial_state(x.shape[0], device="meta", dtype=x.dtype), x)
        if self.fast:
            return self.cell.scan(x, state, lengths)
        y, final, _ = step_loop(self.cell, x, state, lengths)
        return y, final

    def trajectory(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State, list[State]]:
        """Like :meth:`forward`, also returning the state after every step (for diagnostics).

        Always runs the step loop, so each returned state is a node of the graph and
        ``torch.autograd.grad(loss, states[t].h)`` gives ``dL/dh_t``.
        """
        check_sequence_input(x, self.input_size, lengths)
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        else:
            check_state(state, self.initial_state(x.shape[0], device="meta", dtype=x.dtype), x)
        return step_loop(self.cell, x, state, lengths, keep_states=True)
