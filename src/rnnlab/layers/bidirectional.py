"""Bidirectional unroll: one cell reads left to right, another right to left."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab.cells.base import Cell, State
from rnnlab.layers.base import SequenceLayer, check_sequence_input, last_step
from rnnlab.layers.recurrent import Recurrent


class BidirectionalState(NamedTuple):
    forward: Any  # state of the left-to-right cell
    backward: Any  # state of the right-to-left cell


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each row of ``x (B, T, ...)`` within its own length; padding stays in place.

    The map is an involution: ``reverse_padded(reverse_padded(x, L), L) == x``.
    """
    if lengths is None:
        return x.flip(1)
    B, T = x.shape[0], x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0).expand(B, T)
    L = lengths.to(x.device).long().unsqueeze(1)
    idx = torch.where(t < L, L - 1 - t, t)  # (B, T)
    idx = idx.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class Bidirectional(SequenceLayer):
    r"""Two unrolls over the same input, concatenated: :math:`y_t = [\overrightarrow{h}_t;
    \overleftarrow{h}_t]`.

    The backward cell reads each row from its last real step to its first (padding is
    respected), so :math:`\overleftarrow{h}_t` summarises :math:`x_{t..L}`.

    Args:
        forward_cell: the left-to-right cell.
        backward_cell: the right-to-left cell (same input size).
        fast: allow PyTorch's fused kernels (see :class:`Recurrent`).

    Shapes: ``x (B, T, D)`` -> ``y (B, T, H_f + H_b)``, state
    ``BidirectionalState(forward, backward)``.
    """

    @property
    def causal(self) -> bool:
        return False

    def __init__(self, forward_cell: Cell, backward_cell: Cell, fast: bool = True) -> None:
        super().__init__()
        if forward_cell.input_size != backward_cell.input_size:
            raise ValueError(
                f"both directions need the same input size, got {forward_cell.input_size} "
                f"and {backward_cell.input_size}"
            )
        self.forward_layer = Recurrent(forward_cell, fast=fast)
        self.backward_layer = Recurrent(backward_cell, fast=fast)
        self.input_size = forward_cell.input_size
        self.output_size = forward_cell.output_size + backward_cell.output_size

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> BidirectionalState:
        return BidirectionalState(
            self.forward_layer.initial_state(batch, device=device, dtype=dtype),
            self.backward_layer.initial_state(batch, device=device, dtype=dtype),
        )

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, BidirectionalState]:
        check_sequence_input(x, self.input_size, lengths)
        fwd_state = None if state is None else state.forward
        bwd_state = None if state is None else state.backward
        y_f, s_f = self.forward_layer(x, fwd_state, lengths)
        y_b_rev, s_b = self.backward_layer(reverse_padded(x, lengths), bwd_state, lengths)
        y_b = reverse_padded(y_b_rev, lengths)
        return torch.cat([y_f, y_b], dim=-1), BidirectionalState(s_f, s_b)

    def summary(self, y: Tensor, lengths: Tensor | None) -> Tensor:
        """The forward half at each row's last real step, the backward half at step 0."""
        h_f = self.forward_layer.output_size
        return torch.cat([last_step(y[..., :h_f], lengths), y[:, 0, h_f:]], dim=-1)
