r"""DeltaNet: a fast-weight memory written by the delta rule (Schlag et al. 2021; Yang et
al. 2024, "Parallelizing Linear Transformers with the Delta Rule over Sequence Length")."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, step_mask
from rnnlab.cells.scan_cell import check_scan_input, in_state_precision, state_dtype


class DeltaNetState(NamedTuple):
    S: Tensor  # (B, heads, d, d): per head, values x keys


class DeltaNetCell(Cell):
    r"""DeltaNet: a matrix state that reads by ``S q`` and writes by the delta rule.

    .. math::
        \begin{aligned}
        q_t, k_t &= \frac{\operatorname{silu}(W_q x_t)}{\|\cdot\|},
                    \frac{\operatorname{silu}(W_k x_t)}{\|\cdot\|}, \qquad
        v_t = W_v x_t, \qquad \beta_t = \sigma(W_\beta x_t + b_\beta) \\
        S_t &= S_{t-1} (I - \beta_t k_t k_t^\top) + \beta_t v_t k_t^\top
             = S_{t-1} + \beta_t (v_t - S_{t-1} k_t) k_t^\top, \qquad y_t = S_t q_t
        \end{aligned}

    per head (``heads`` heads of ``d = hidden_size / heads``; ``q``, ``k`` L2-normalised
    per head, so ``I - beta k k^T`` has eigenvalues in ``[0, 1]``): the state moves its
    value for key ``k`` a fraction ``beta`` of the way to ``v``.

    :meth:`scan` computes every ``q, k, v, beta`` at once and runs the chunked form of
    the paper (``chunk`` steps at a time, :func:`delta_rule_chunked`), or with
    ``chunk=1`` the recurrent form (one update per step over ``unbind``,
    :func:`delta_rule_recurrent`), which :meth:`step` also follows.

    Args:
        input_size: D.
        hidden_size: H = heads * d (output features).
        heads: number of heads (dividing H).
        chunk: steps per chunk of the WY form (1: the recurrent form). A sequence shorter
            than ``chunk`` runs as one chunk of its own length (the same result).

    Shapes: ``x_t (B, D)``, ``state.S (B, heads, d, d)`` -> ``y_t (B, H)``.

    Example::

        cell = DeltaNetCell(3, 16, heads=2)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))
    """

    def __init__(self, input_size: int, hidden_size: int, heads: int = 1, chunk: int = 64) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("heads", heads)
        check_positive("chunk", chunk)
        self.chunk = chunk
        if hidden_size % heads:
            raise ValueError(f"DeltaNet heads={heads} must divide hidden_size={hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.heads = heads
        self.head_size = hidden_size // heads
        self.qkv = nn.Linear(input_size, 3 * hidden_size, bias=False)
        self.beta = nn.Linear(input_size, heads)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> DeltaNetState:
        ref = self.qkv.weight
        d = self.head_size
        shape = (batch, self.heads, d, d)
        return DeltaNetState(
            torch.zeros(shape, device=device or ref.device, dtype=state_dtype(dtype, ref.dtype))
        )

    def project_input(self, x: Tensor) -> Tensor:
        return torch.cat([self.qkv(x), self.beta(x)], dim=-1)  # (..., 3H + heads)

    def affine_input(self) -> tuple[Tensor, Tensor | None]:
        bias = torch.cat([self.qkv.weight.new_zeros(3 * self.hidden_size), self.beta.bias])
        return torch.cat([self.qkv.weight, self.beta.weight]), bias

    def _qkvb(self, p: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``q, k, v (..., heads, d)`` and ``beta (..., heads)`` from the projection."""
        H, h, d = self.hidden_size, self.heads, self.head_size
        q, k, v, b = p.split([H, H, H, h], dim=-1)
        shape = (*p.shape[:-1], h, d)
        q = F.normalize(F.silu(q).view(shape), dim=-1)
        k = F.normalize(F.silu(k).view(shape), dim=-1)
        return q, k, v.reshape(shape), torch.sigmoid(b)

    @staticmethod
    def _update(S: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
        # S_t = S + beta (v - S k) k^T: (B, heads, d, d)
        error = v - (S @ k.unsqueeze(-1)).squeeze(-1)  # (B, heads, d)
        return S + (beta.unsqueeze(-1) * error).unsqueeze(-1) * k.unsqueeze(-2)

    def step(self, p_t: Tensor, state: DeltaNetState) -> tuple[Tensor, DeltaNetState]:
        q, k, v, beta = self._qkvb(in_state_precision(p_t, state.S))
        S = self._update(state.S, k, v, beta)
        y = (S @ q.unsqueeze(-1)).flatten(-3)  # y = S q: (B, H)
        return y, DeltaNetState(S)

    def scan(
        self, x: Tensor, state: DeltaNetState, lengths: Tensor | None = None
    ) -> tuple[Tensor, DeltaNetState]:
        """The whole sequence, the projections and normalisations done for all steps at
        once; padded steps write nothing (``beta = 0``) and emit zeros."""
        check_scan_input(x)
        mask = step_mask(lengths, x.shape[1], x.device)
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        p = in_state_precision(self.project_input(x), state.S)
        q, k, v, beta = self._qkvb(p)  # (B, T, heads, d), (B, T, heads)
        if mask is not None:
            beta = beta.masked_fill(~mask.unsqueeze(-1), 0.0)
        # the recurrence in the state's precision, also under autocast (bfloat16 has no
        # triangular solve on the CPU, and the state sums every step's writes)
        with torch.autocast(x.device.type, enabled=False):
            if self.chunk == 1:
                y, S = delta_rule_recurrent(q, k, v, beta, state.S)
            else:
                y, S = delta_rule_chunked(q, k, v, beta, state.S, self.chunk)
        y = y.flatten(-2)  # (B, T, H)
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        return y, DeltaNetState(S)


def delta_rule_recurrent(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, S: Tensor
) -> tuple[Tensor, Tensor]:
    """The reference: ``S_t = S_{t-1} + beta_t (v_t - S_{t-1} k_t) k_t^T``, ``o_t = S_t q_t``
    step by step. ``q, k, v (B, T, heads, d)``, ``beta (B, T, heads)``, ``S (B, heads, d,
    d)`` -> ``o (B, T, heads, d)`` and the last ``S``."""
    outputs = []
    for q_t, k_t, v_t, b_t in zip(
        q.unbind(1), k.unbind(1), v.unbind(1), beta.unbind(1), strict=True
    ):
        S = DeltaNetCell._update(S, k_t, v_t, b_t)
        outputs.append((S @ q_t.unsqueeze(-1)).squeeze(-1))
    return torch.stack(outputs, dim=1), S


def delta_rule_chunked(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, S: Tensor, chunk: int
) -> tuple[Tensor, Tensor]:
    r"""The chunked form (Yang et al. 2024): the same as :func:`delta_rule_recurrent`.

    Within a chunk that starts from ``S_0`` the products of ``I - beta k k^T`` take the WY
    form, ``S_t = S_0 (I - sum_{i<=t} w_i k_i^T) + sum_{i<=t} u_i k_i^T`` with

    .. math:: w_t = \beta_t (k_t - \textstyle\sum_{i<t} w_i k_i^\top k_t), \quad
              u_t = \beta_t (v_t - \textstyle\sum_{i<t} u_i k_i^\top k_t)

    i.e. ``(I + A) W = diag(beta) K``, ``(I + A) U = diag(beta) V`` with ``A`` the strictly
    lower triangle of ``diag(beta) K K^T``: one triangular solve for all chunks at once.
    Then, chunk after chunk, with ``R = U - W S_0^T`` (the corrected writes):
    ``O = Q S_0^T + (Q K^T, lower triangle with its diagonal) R`` and ``S_C = S_0 + R^T K``.
    A ``chunk`` longer than ``T`` is clamped to ``T`` (one chunk); ``T`` must be >= 1.
    """
    if q.shape[1] == 0:
        raise ValueError("delta_rule_chunked needs at least one step, got T = 0")
    B, T, h, d = q.shape
    C = min(chunk, T)
    N = -(-T // C)  # chunks
    pad = N * C - T
    if pad:  # steps that write nothing (beta = 0) and whose outputs are dropped
        q, k, v = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (q, k, v))
        beta = F.pad(beta, (0, 0, 0, pad))
    # (B, heads, N, C, d): chunk n, step c
    q, k, v = (t.view(B, N, C, h, d).permute(0, 3, 1, 2, 4) for t in (q, k, v))
    beta = beta.view(B, N, C, h).permute(0, 3, 1, 2).unsqueeze(-1)  # (B, heads, N, C, 1)
    A = (beta * k @ k.transpose(-1, -2)).tril(-1)  # A_ti = beta_t k_t . k_i, i < t
    eye = torch.eye(C, dtype=q.dtype, device=q.device)
    W = torch.linalg.solve_triangular(eye + A, beta * k, upper=False, unitriangular=True)
    U = torch.linalg.solve_triangular(eye + A, beta * v, upper=False, unitriangular=True)
    scores = (q @ k.transpose(-1, -2)).tril()  # (q_t . k_i) for i <= t
    outputs = []
    for n in range(N):
        # R = U - W S^T: (B, heads, C, d)
        R = U[:, :, n] - W[:, :, n] @ S.transpose(-1, -2)
        outputs.append(q[:, :, n] @ S.transpose(-1, -2) + scores[:, :, n] @ R)
        S = S + R.transpose(-1, -2) @ k[:, :, n]
    o = torch.stack(outputs, dim=2)  # (B, heads, N, C, d)
    return o.permute(0, 2, 3, 1, 4).reshape(B, N * C, h, d)[:, :T], S
