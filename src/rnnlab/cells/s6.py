r"""The selective state-space recurrence of Mamba (S6; Gu & Dao 2023), in plain PyTorch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_finite, check_positive
from rnnlab.cells.minimal import _check_method
from rnnlab.cells.scan_cell import LinearScanCell


class S6Cell(LinearScanCell):
    r"""S6: a diagonal state-space model whose step size and projections read the input.

    .. math::
        \begin{aligned}
        u_t &= W_u x_t, \qquad \Delta_t = \operatorname{softplus}(W_\Delta u_t + b_\Delta),
        \qquad B_t = W_B u_t, \qquad C_t = W_C u_t \\
        h_t &= \exp(\Delta_t A) \odot h_{t-1} + \Delta_t B_t u_t, \qquad
        y_t = C_t h_t + d \odot u_t
        \end{aligned}

    per channel ``c`` of ``u`` (``H = hidden_size`` channels) with a state of ``N``
    (``state_size``) units: ``h (B, H, N)``, ``A = -exp(A_log) (H, N)`` diagonal and real,
    zero-order hold for ``A`` (``exp(Delta A)``) and Euler for ``B`` (``Delta B``) as in
    Mamba. ``W_Delta`` is low rank (``dt_rank = ceil(H / 16)``); ``A`` starts at
    ``-(1..N)`` (S4D-real), ``b_Delta`` so that ``Delta`` starts in ``[dt_min, dt_max]``
    log-uniformly.

    Args:
        input_size: D.
        hidden_size: H channels (and output features).
        state_size: N per channel.
        dt_min, dt_max: the range of the initial step sizes.
        scan_method: the :func:`~rnnlab.cells.linear_scan.linear_scan` kernel (``auto``).
        input_projection: ``False``: ``u = x`` (``D = H``), as inside a Mamba block
            (:class:`~rnnlab.cells.mamba.MambaCell`).

    Shapes: ``x_t (B, D)``, ``state.h (B, H, N)`` -> ``y_t (B, H)``.

    Example::

        cell = S6Cell(3, 16, state_size=8)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))

    Notes:
        Mamba's block (input projection, causal convolution, SiLU gate, output
        projection) is around this recurrence, not in it; ``W_u`` here is a plain input
        projection so that the cell reads any width.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        state_size: int = 16,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        scan_method: str = "auto",
        input_projection: bool = True,
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("state_size", state_size)
        _check_method(scan_method)
        if not input_projection and input_size != hidden_size:
            raise ValueError(
                f"S6 without an input projection needs input_size == hidden_size, got "
                f"{input_size} and {hidden_size}"
            )
        check_finite("S6 dt_min", dt_min)
        check_finite("S6 dt_max", dt_max)
        if not dt_min <= dt_max:
            raise ValueError(f"S6 needs 0 < dt_min <= dt_max, got {dt_min!r}, {dt_max!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.state_size = state_size
        self.scan_method = scan_method
        H, N = hidden_size, state_size
        self.dt_rank = math.ceil(H / 16)
        # u = W_u x
        self.in_proj = nn.Linear(input_size, H, bias=False) if input_projection else nn.Identity()
        # [dt (low rank), B, C] from u
        self.x_proj = nn.Linear(H, self.dt_rank + 2 * N, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, H)
        dt = torch.exp(torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():  # softplus(b) = dt
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1).float()).repeat(H, 1))
        self.d = nn.Parameter(torch.ones(H))

    def state_shape(self) -> tuple[int, ...]:
        return (self.hidden_size, self.state_size)

    def project_input(self, x: Tensor) -> Tensor:
        # [u, W_Delta u + b, B, C]: (..., 2H + 2N), all linear in x
        u = self.in_proj(x)
        dt_low, B, C = self.x_proj(u).split([self.dt_rank, self.state_size, self.state_size], -1)
        return torch.cat([u, self.dt_proj(dt_low), B, C], dim=-1)

    def _parts(self, p: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        H, N = self.hidden_size, self.state_size
        u, dt_pre, B, C = p.split([H, H, N, N], dim=-1)
        return u, dt_pre, B, C

    def coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        u, dt_pre, B, _ = self._parts(p)
        delta = F.softplus(dt_pre).unsqueeze(-1)  # (..., H, 1)
        A = -torch.exp(self.A_log)  # (H, N)
        # a = exp(Delta A) (zero-order hold), b = Delta B u: (..., H, N)
        return torch.exp(delta * A), (delta * u.unsqueeze(-1)) * B.unsqueeze(-2)

    def readout(self, h: Tensor, p: Tensor) -> Tensor:
        u, _, _, C = self._parts(p)
        # y = C h + d u
        return (h @ C.unsqueeze(-1)).squeeze(-1) + self.d * u
