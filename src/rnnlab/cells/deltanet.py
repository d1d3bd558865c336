r"""DeltaNet: a fast-weight memory written by the delta rule (Schlag et al. 2021; Yang et
al. 2024, "Parallelizing Linear Transformers with the Delta Rule over Sequence Length")."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, step_mask


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

    :meth:`scan` computes every ``q, k, v, beta`` at once and runs the recurrent form
    (one update per step over ``unbind``); the chunked WY form of the paper is not
    implemented.

    Args:
        input_size: D.
        hidden_size: H = heads * d (output features).
        heads: number of heads (dividing H).

    Shapes: ``x_t (B, D)``, ``state.S (B, heads, d, d)`` -> ``y_t (B, H)``.

    Example::

        cell = DeltaNetCell(3, 16, heads=2)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))
    """

    def __init__(self, input_size: int, hidden_size: int, heads: int = 1) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("heads", heads)
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
            torch.zeros(shape, device=device or ref.device, dtype=dtype or ref.dtype)
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
        q, k, v, beta = self._qkvb(p_t)
        S = self._update(state.S, k, v, beta)
        y = (S @ q.unsqueeze(-1)).flatten(-3)  # y = S q: (B, H)
        return y, DeltaNetState(S)

    def scan(
        self, x: Tensor, state: DeltaNetState, lengths: Tensor | None = None
    ) -> tuple[Tensor, DeltaNetState]:
        """The recurrent form over every step, the projections and normalisations done
        for all steps at once; padded steps write nothing (``beta = 0``) and emit zeros."""
        mask = step_mask(lengths, x.shape[1], x.device)
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        q, k, v, beta = self._qkvb(self.project_input(x))  # (B, T, heads, d), (B, T, heads)
        if mask is not None:
            beta = beta.masked_fill(~mask.unsqueeze(-1), 0.0)
        S, outputs = state.S, []
        for k_t, v_t, b_t in zip(k.unbind(1), v.unbind(1), beta.unbind(1), strict=True):
            S = self._update(S, k_t, v_t, b_t)
            outputs.append(S)
        states = torch.stack(outputs, dim=1)  # (B, T, heads, d, d)
        y = (states @ q.unsqueeze(-1)).flatten(-3)  # (B, T, H)
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        return y, DeltaNetState(S)
