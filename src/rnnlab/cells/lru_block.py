r"""The LRU block (Orvieto et al. 2023, Fig. 1) as one cell: a layer norm, the LRU and a
gated MLP, so that a stack of them is not one linear map of its input."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.cells.base import Cell, step_mask
from rnnlab.cells.lru import LRUCell
from rnnlab.cells.scan_cell import ScanState


class LRUBlockCell(Cell):
    r"""LRU block: the linear recurrent unit between a layer norm and a gated MLP.

    .. math::
        \begin{aligned}
        u_t &= \operatorname{LayerNorm}(x_t), \qquad
        \tilde y_t = \operatorname{Re}(C h_t) + D u_t
        \quad (h_t = \lambda \odot h_{t-1} + \gamma \odot B u_t) \\
        y_t &= (W_1 g_t + b_1) \odot \sigma(W_2 g_t + b_2), \qquad
        g_t = \operatorname{gelu}(\tilde y_t)
        \end{aligned}

    with :class:`~rnnlab.cells.lru.LRUCell` in the middle (its options pass through). The
    LRU alone is linear in its input, and so is a stack of LRUs; the paper's network puts
    this GELU and gated linear unit after each recurrence (the minimal-LRU code's
    ``SequenceLayer``). The residual connection around each block is the layer stack's
    (``--residual``). A block reading one feature (a pixel) has no layer norm: the norm of
    one feature is always 0.

    Args:
        input_size: D.
        hidden_size: N complex units of the LRU, H output features.
        r_min, r_max, max_phase, scan_method: the LRU's (:class:`LRUCell`).

    Shapes: ``x_t (B, D)``, ``state.h (B, N)`` complex -> ``y_t (B, H)`` real.

    Example::

        cell = LRUBlockCell(3, 16, r_min=0.9, r_max=0.999)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        r_min: float = 0.0,
        r_max: float = 0.99,
        max_phase: float = 2 * math.pi,
        scan_method: str = "auto",
    ) -> None:
        super().__init__()
        self.lru = LRUCell(input_size, hidden_size, r_min, r_max, max_phase, scan_method)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.norm = nn.LayerNorm(input_size) if input_size > 1 else nn.Identity()
        self.gate = nn.Linear(hidden_size, 2 * hidden_size)  # [W_1; W_2]

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> ScanState:
        return self.lru.initial_state(batch, device=device, dtype=dtype)

    def project_input(self, x: Tensor) -> Tensor:
        return self.lru.project_input(self.norm(x))

    def _mlp(self, y: Tensor) -> Tensor:
        value, gate = self.gate(F.gelu(y)).chunk(2, dim=-1)
        return value * torch.sigmoid(gate)

    def step(self, p_t: Tensor, state: ScanState) -> tuple[Tensor, ScanState]:
        y, state = self.lru.step(p_t, state)
        return self._mlp(y), state

    def scan(
        self, x: Tensor, state: ScanState, lengths: Tensor | None = None
    ) -> tuple[Tensor, ScanState]:
        """The LRU as one scan, the norm and MLP over all steps; padded steps emit zeros
        (their inputs zeroed before the norm, so that NaN padding reaches no gradient)."""
        mask = step_mask(lengths, x.shape[1], x.device)
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        y, final = self.lru.scan(self.norm(x), state, lengths)
        y = self._mlp(y)
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        return y, final
