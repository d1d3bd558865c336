r"""Transformer blocks and a stack of them with a key/value cache (Vaswani et al. 2017).

One block, pre-norm (GPT-2, Xiong et al. 2020) or post-norm (the original):

.. math::
    \begin{aligned}
    \text{pre-norm:}\quad  x &\leftarrow x + \mathrm{Drop}(\mathrm{MHA}(\mathrm{LN}(x))), &
      x &\leftarrow x + \mathrm{Drop}(\mathrm{MLP}(\mathrm{LN}(x)))\\
    \text{post-norm:}\quad x &\leftarrow \mathrm{LN}(x + \mathrm{Drop}(\mathrm{MHA}(x))), &
      x &\leftarrow \mathrm{LN}(x + \mathrm{Drop}(\mathrm{MLP}(x)))
    \end{aligned}

with :math:`\mathrm{MLP}(x) = W_2\, \mathrm{GELU}(W_1 x + b_1) + b_2` of width ``r E`` and,
in a decoder of an encoder-decoder, a cross-attention sub-layer to the encoder's outputs
between the two. A pre-norm stack ends with a LayerNorm.

The key/value cache: each layer's keys and values ``(B, h, L, d)`` of every position read
so far (rotary queries and keys already rotated at their absolute positions). Reading ``T``
new positions appends their keys and values and attends with the bottom-right aligned
causal mask (:mod:`rnnlab.attention.multihead`), so reading a sequence in pieces gives
what reading it whole gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab.attention.multihead import MultiHeadAttention, _with_causal, attend
from rnnlab.attention.positions import (
    POSITIONS,
    LearnedPositions,
    Rotary,
    SinusoidalPositions,
    alibi_bias,
    alibi_slopes,
)


class KV(NamedTuple):
    """One layer's cached keys and values."""

    keys: Tensor  # (B, h, L, d)
    values: Tensor  # (B, h, L, d)


class LayerWeights(NamedTuple):
    """One layer's attention weights (the exact path; ``None`` unless asked for or when
    the layer has no cross-attention)."""

    self_attention: Tensor | None  # (B, h, T, L)
    cross_attention: Tensor | None  # (B, h, T, S)


def _grouped_attend(
    q: Tensor, memory: KV, mask: Tensor | None, need_weights: bool = False
) -> tuple[Tensor, Tensor | None]:
    """Cross-attention of ``q (R, h, T, d)`` to a memory of ``N`` rows, ``R = N G``: rows
    ``n G .. n G + G - 1`` read memory row ``n`` (the beams of one sentence), as ``G T``
    queries of one row, without copying the memory. Returns ``(R, h, T, d)`` and, with
    ``need_weights``, the weights ``(R, h, T, S)``."""
    R, h, T, d = q.shape
    N = memory.keys.shape[0]
    if R == N:
        return attend(q, memory.keys, memory.values, mask, need_weights=need_weights)
    G = R // N
    q = q.view(N, G, h, T, d).transpose(1, 2).reshape(N, h, G * T, d)
    out, w = attend(
        q, memory.keys, memory.values, mask, need_weights=need_weights
    )  # (N, h, G T, .)
    out = out.view(N, h, G, T, d).transpose(1, 2).reshape(R, h, T, d)
    if w is not None:
        S = w.shape[-1]
        w = w.view(N, h, G, T, S).transpose(1, 2).reshape(R, h, T, S)
    return out, w


class TransformerBlock(nn.Module):
    """Self-attention (with a cache), optional cross-attention, MLP; see the module
    docstring.

    Args:
        width: E; heads: h; mlp_ratio: r (MLP width ``r E``); dropout: on attention
        weights and on every residual branch; pre_norm: LayerNorm before each sub-layer
        (else after the residual sum); cross: add cross-attention to a memory.
    """

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: float,
        dropout: float,
        pre_norm: bool,
        cross: bool = False,
    ) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.self_attn = MultiHeadAttention(width, heads, dropout)
        self.norm_self = nn.LayerNorm(width)
        self.cross_attn = MultiHeadAttention(width, heads, dropout) if cross else None
        self.norm_cross = nn.LayerNorm(width) if cross else None
        hidden = max(1, round(mlp_ratio * width))
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.norm_mlp = nn.LayerNorm(width)
        self.drop: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def _residual(
        self, x: Tensor, norm: nn.Module | None, sublayer: Callable[[Tensor], Tensor]
    ) -> Tensor:
        assert norm is not None
        if self.pre_norm:
            return x + self.drop(sublayer(norm(x)))
        return norm(x + self.drop(sublayer(x)))

    def memory_keys(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention keys and values of a memory ``(N, S, E)``, ``(N, h, S, d)``."""
        if self.cross_attn is None:
            raise ValueError("this block does not cross-attend")
        return self.cross_attn.project_memory(memory)

    def forward(
        self,
        x: Tensor,
        past: KV | None = None,
        rotary: tuple[Tensor, Tensor] | None = None,
        mask: Tensor | None = None,
        causal: bool = False,
        memory: KV | None = None,
        memory_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, KV, LayerWeights]:
        """``x (B, T, E)`` -> ``(B, T, E)``, this layer's cache after ``x`` and, when
        asked for, the self-attention weights ``(B, h, T, L)`` and the cross-attention
        weights ``(B, h, T, S)``.

        ``past``: the cache before ``x``; ``rotary``: ``cos, sin (T, d/2)`` at the positions
        of ``x``; ``mask``: bool or additive, ``(..., T, L)``; ``causal``: hide later keys
        (bottom-right aligned); ``memory``, ``memory_mask (N, 1, 1, S)``: the encoder's keys
        and values for cross-attention.
        """
        cache: list[KV] = []
        weights: list[Tensor | None] = []
        cross_weights: list[Tensor | None] = [None]

        def self_attention(h: Tensor) -> Tensor:
            attn = self.self_attn
            q, k, v = attn.project(h)  # (B, h, T, d)
            if rotary is not None:  # rotated at absolute positions, before entering the cache
                q, k = Rotary.rotate(q, *rotary), Rotary.rotate(k, *rotary)
            # one dtype for q, k, v under autocast: rotary's float32 angles make q, k
            # float32, and a cache carried in float32 meets bfloat16 keys
            k, v = k.to(q.dtype), v.to(q.dtype)
            if past is not None and past.keys.shape[2]:
                k = torch.cat([past.keys.to(q.dtype), k], dim=2)  # (B, h, L, d)
                v = torch.cat([past.values.to(q.dtype), v], dim=2)
            cache.append(KV(k, v))
            out, w = attn.attend(q, k, v, mask, causal=causal, need_weights=need_weights)
            weights.append(w)
            return out

        def cross_attention(h: Tensor) -> Tensor:
            attn = self.cross_attn
            assert attn is not None and memory is not None
            q = attn.project_query(h)
            out, cross_weights[0] = _grouped_attend(q, memory, memory_mask, need_weights)
            return attn.merge(out)

        x = self._residual(x, self.norm_self, self_attention)
        if self.cross_attn is not None:
            if memory is None:
                raise ValueError("this block cross-attends: give the encoder's memory")
            x = self._residual(x, self.norm_cross, cross_attention)
        x = self._residual(x, self.norm_mlp, self.mlp)
        return x, cache[0], LayerWeights(weights[0], cross_weights[0])


class TransformerStack(nn.Module):
    r"""Position scheme, ``layers`` blocks and (pre-norm) a final LayerNorm.

    Args:
        width: E; layers: N; heads: h; mlp_ratio: r; dropout: on the embeddings, the
        attention weights and the residual branches; pre_norm: see the module docstring.
        positions: ``rotary``, ``alibi``, ``sinusoidal``, ``learned`` or ``none``
            (:mod:`rnnlab.attention.positions`). With sinusoidal positions the token
            embeddings are multiplied by :math:`\sqrt{E}` before the table is added, as
            Vaswani et al. (2017) do: with GPT-2's N(0, 0.02) embeddings the unit-size
            sinusoids would otherwise drown the tokens (a 40 s Shakespeare run without it
            stayed near the unigram loss).
        max_length: rows of the learned table.
        causal: position ``t`` reads positions ``<= t`` only.
        cross: blocks cross-attend to a memory (an encoder-decoder's decoder).

    Shapes: ``x (B, T, E)`` (embedded tokens, positions not yet added) -> ``(B, T, E)``.
    """

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        mlp_ratio: float,
        dropout: float,
        pre_norm: bool,
        positions: str,
        max_length: int,
        causal: bool,
        cross: bool = False,
    ) -> None:
        super().__init__()
        check_positive("width", width)
        check_positive("layers", layers)
        if not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio!r}")
        check_unit_interval("dropout", dropout)
        if positions not in POSITIONS:
            raise ValueError(
                f"unknown positions {positions!r}; expected one of {', '.join(POSITIONS)}"
            )
        self.width, self.heads, self.positions = width, heads, positions
        self.causal = causal
        self.blocks = nn.ModuleList(
            TransformerBlock(width, heads, mlp_ratio, dropout, pre_norm, cross)
            for _ in range(layers)
        )
        self.final_norm: nn.Module = nn.LayerNorm(width) if pre_norm else nn.Identity()
        self.drop: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.embed_positions: nn.Module | None = None
        if positions == "sinusoidal":
            self.embed_positions = SinusoidalPositions(width)
        elif positions == "learned":
            self.embed_positions = LearnedPositions(max_length, width)
        head_dim = width // heads
        self.rotary = Rotary(head_dim) if positions == "rotary" else None
        slopes = alibi_slopes(heads) if positions == "alibi" else torch.zeros(0)
        self.alibi_slopes: Tensor
        self.register_buffer("alibi_slopes", slopes, persistent=False)

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def empty_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> tuple[KV, ...]:
        """A cache holding no position: ``(B, h, 0, d)`` per layer."""
        empty = torch.zeros(batch, self.heads, 0, self.head_dim, device=device, dtype=dtype)
        return tuple(KV(empty, empty) for _ in self.blocks)

    def forward(
        self,
        x: Tensor,
        start: int = 0,
        past: tuple[KV, ...] | None = None,
        key_mask: Tensor | None = None,
        memory: tuple[KV, ...] | None = None,
        memory_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, tuple[KV, ...], list[LayerWeights]]:
        """Read ``x (B, T, E)`` at absolute positions ``start .. start + T - 1`` after the
        cache ``past`` (which holds the positions just before ``start``).

        ``key_mask (B, L)`` bool: True on real positions (padding is never attended to);
        ``memory``: per layer, the encoder's keys and values (cross-attention), with
        ``memory_mask (N, S)``. Returns the outputs, the cache after ``x`` and per layer
        the self-attention weights ``(B, h, T, L)`` (``None`` unless ``need_weights``).
        """
        T = x.shape[1]
        n_past = 0 if past is None else past[0].keys.shape[2]
        device = x.device
        q_pos = torch.arange(start, start + T, device=device)
        if self.positions == "sinusoidal":  # sqrt(E) E[x] + PE (Vaswani et al. 2017, 3.4)
            x = x * self.width**0.5
        if self.embed_positions is not None:
            x = x + self.embed_positions(q_pos).to(x.dtype)  # (B, T, E)
        x = self.drop(x)
        rotary = None if self.rotary is None else self.rotary.angles(q_pos, x.dtype)
        mask: Tensor | None = None
        if self.positions == "alibi":
            k_pos = torch.arange(start - n_past, start + T, device=device)
            mask = alibi_bias(self.alibi_slopes.to(x.dtype), q_pos, k_pos)  # (h, T, L)
        if key_mask is not None:
            allowed = key_mask[:, None, None, :]  # (B, 1, 1, L)
            mask = allowed if mask is None else mask.masked_fill(~allowed, float("-inf"))
        causal = self.causal
        if causal and mask is not None:  # fold the causal mask in once for every layer
            mask, causal = _with_causal(mask, T, n_past + T), False
        mem_mask = None if memory_mask is None else memory_mask[:, None, None, :]
        caches: list[KV] = []
        weights: list[LayerWeights] = []
        for i, block in enumerate(self.blocks):
            x, kv, w = block(
                x,
                None if past is None else past[i],
                rotary,
                mask,
                causal,
                None if memory is None else memory[i],
                mem_mask,
                need_weights,
            )
            caches.append(kv)
            weights.append(w)
        return self.final_norm(x), tuple(caches), weights
