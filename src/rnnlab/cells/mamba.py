r"""The Mamba block (Gu & Dao 2023) as one cell: S6 inside its projections, causal
convolution and gate."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, step_mask
from rnnlab.cells.s6 import S6Cell
from rnnlab.cells.scan_cell import ScanState, check_scan_input


class MambaState(NamedTuple):
    h: Tensor  # (B, E, N): the S6 state
    conv: Tensor  # (B, E, K-1): the last K-1 inputs of the convolution


class MambaCell(Cell):
    r"""Mamba block: the selective SSM between an input projection with a short causal
    convolution and a SiLU gate.

    .. math::
        \begin{aligned}
        (\xi_t, z_t) &= W_{in} x_t, \qquad
        c_t = \operatorname{silu}\big(\textstyle\sum_{j<K} w_j \odot \xi_{t-j} + b\big) \\
        y_t &= W_{out}\big(\operatorname{S6}(c)_t \odot \operatorname{silu}(z_t)\big)
        \end{aligned}

    with ``E = expand * hidden_size`` inner channels, a depthwise convolution of width
    ``K = conv`` over time, and :class:`~rnnlab.cells.s6.S6Cell` (``state_size`` per
    channel) without its own input projection. :meth:`scan` runs the convolution over the
    whole sequence (``conv1d``) and S6 as one linear scan; :meth:`step` keeps the last
    ``K - 1`` inputs in the state.

    Args:
        input_size: D.
        hidden_size: H (output features).
        state_size: N per channel.
        expand: E / H.
        conv: K, the convolution's width.

    Shapes: ``x_t (B, D)``, ``state = MambaState(h (B, E, N), conv (B, E, K-1))`` ->
    ``y_t (B, H)``.

    Example::

        cell = MambaCell(3, 16)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))

    Notes:
        The residual connection and the normalisation around the block in Mamba's
        network are the layer stack's (``--residual``); a block reads ``D`` features
        instead of ``H``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        state_size: int = 16,
        expand: int = 2,
        conv: int = 4,
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            check_positive(name, value)
        check_positive("expand", expand)
        check_positive("conv", conv)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        E = expand * hidden_size
        self.inner = E
        self.kernel = conv
        self.in_proj = nn.Linear(input_size, 2 * E)  # [xi, z]
        self.conv_weight = nn.Parameter(torch.randn(E, conv) / conv**0.5)
        self.conv_bias = nn.Parameter(torch.zeros(E))
        self.s6 = S6Cell(E, E, state_size=state_size, input_projection=False)
        self.out_proj = nn.Linear(E, hidden_size)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> MambaState:
        (h,) = self.s6.initial_state(batch, device=device, dtype=dtype)
        conv = h.new_zeros(batch, self.inner, self.kernel - 1)
        return MambaState(h, conv)

    def project_input(self, x: Tensor) -> Tensor:
        return self.in_proj(x)  # (..., 2E)

    def affine_input(self) -> tuple[Tensor, Tensor | None]:
        return self.in_proj.weight, self.in_proj.bias

    def step(self, p_t: Tensor, state: MambaState) -> tuple[Tensor, MambaState]:
        xi, z = p_t.chunk(2, dim=-1)
        window = torch.cat([state.conv, xi.unsqueeze(-1)], dim=-1)  # (B, E, K): oldest first
        c = F.silu((window * self.conv_weight).sum(-1) + self.conv_bias)
        y6, s6_state = self.s6.step(self.s6.project_input(c), ScanState(state.h))
        y = self.out_proj(y6 * F.silu(z))
        return y, MambaState(s6_state.h, window[..., 1:])

    def scan(
        self, x: Tensor, state: MambaState, lengths: Tensor | None = None
    ) -> tuple[Tensor, MambaState]:
        """The convolution over the whole sequence, S6 as one scan; padded steps emit
        zeros, and the state keeps each row's last real inputs."""
        check_scan_input(x)
        B, T, _ = x.shape
        mask = step_mask(lengths, T, x.device)
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        xi, z = self.project_input(x).chunk(2, dim=-1)  # (B, T, E) each
        # the stored K-1 inputs, then this sequence's: (B, E, K-1+T)
        seq = torch.cat([state.conv, xi.transpose(1, 2)], dim=-1)
        weight = self.conv_weight.unsqueeze(1)  # (E, 1, K): conv1d correlates, oldest first
        c = F.silu(F.conv1d(seq, weight, self.conv_bias, groups=self.inner)).transpose(1, 2)
        y6, s6_final = self.s6.scan(c, ScanState(state.h), lengths)
        y = self.out_proj(y6 * F.silu(z))
        if mask is None or lengths is None:
            return y, MambaState(s6_final.h, seq[..., T:])
        y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        # each row's last K-1 real inputs: seq positions lengths .. lengths + K - 2
        ends = lengths.to(x.device).view(B, 1, 1) + torch.arange(self.kernel - 1, device=x.device)
        conv = seq.gather(2, ends.expand(B, self.inner, -1))
        return y, MambaState(s6_final.h, conv)
