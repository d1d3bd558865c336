r"""Multi-head scaled dot-product attention (Vaswani et al. 2017) on PyTorch's fused kernel.

.. math::
    \mathrm{head}_i = \mathrm{softmax}\!\Big(\frac{Q W^Q_i (K W^K_i)^\top}{\sqrt{d}} + M\Big)
        V W^V_i, \qquad
    \mathrm{MHA}(Q, K, V) = [\mathrm{head}_1; \dots; \mathrm{head}_h]\, W^O

with :math:`d = E / h` per head and :math:`M` the mask: 0 where a query may read a key,
:math:`-\infty` where not (or an additive bias such as ALiBi's).

Masks follow :func:`torch.nn.functional.scaled_dot_product_attention`: a bool mask is
True where the query **attends** (the opposite of ``nn.MultiheadAttention``'s
``key_padding_mask``); a float mask is added to the scores.

Causal attention with a cache: the ``Tq`` queries are the *last* ``Tq`` of the ``Tk``
positions, so query ``i`` reads keys ``j <= i + Tk - Tq`` (bottom-right aligned).
``is_causal=True`` is top-left aligned (``j <= i``) and wrong as soon as ``Tq < Tk``;
:func:`attend` uses it only when ``Tq == Tk``, no mask for a single query, and
:func:`torch.nn.attention.bias.causal_lower_right` otherwise.

Shapes: ``B`` batch, ``h`` heads, ``T`` positions, ``d`` per-head width, ``E = h d``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.attention.bias import causal_lower_right

from rnnlab._checks import check_positive, check_unit_interval


def causal_mask(q_len: int, k_len: int, device: torch.device | str | None = None) -> Tensor:
    """``(Tq, Tk)`` bool, True where query ``i`` may read key ``j``: ``j <= i + Tk - Tq``
    (the queries are the last ``Tq`` positions; bottom-right aligned)."""
    if q_len > k_len:
        raise ValueError(f"causal attention needs at least as many keys ({k_len}) as queries")
    i = torch.arange(q_len, device=device).unsqueeze(1)
    j = torch.arange(k_len, device=device).unsqueeze(0)
    return j <= i + (k_len - q_len)


def _with_causal(mask: Tensor, q_len: int, k_len: int) -> Tensor:
    """``mask`` (bool or additive float) with the future keys masked out too."""
    allowed = causal_mask(q_len, k_len, mask.device)
    if mask.dtype == torch.bool:
        return mask & allowed
    return mask.masked_fill(~allowed, float("-inf"))


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    causal: bool = False,
    dropout_p: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    r""":math:`\mathrm{softmax}(q k^\top / \sqrt{d} + M)\, v` per head.

    Args:
        q: ``(B, h, Tq, d)``; k, v: ``(B, h, Tk, d)``.
        mask: bool (True: attend) or float (added to the scores), broadcastable to
            ``(B, h, Tq, Tk)``.
        causal: the queries are the last ``Tq`` positions of the keys; later keys are
            hidden (bottom-right aligned, see the module docstring).
        dropout_p: dropout on the attention weights.
        need_weights: take the exact slower path that also returns the weights
            ``(B, h, Tq, Tk)`` (for figures); otherwise the fused kernel and ``None``.

    Returns:
        ``(B, h, Tq, d)`` and the weights or ``None``.
    """
    Tq, Tk = q.shape[-2], k.shape[-2]
    if need_weights:
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, h, Tq, Tk)
        if causal:
            scores = scores.masked_fill(~causal_mask(Tq, Tk, q.device), float("-inf"))
        if mask is not None:
            scores = (
                scores.masked_fill(~mask, float("-inf"))
                if mask.dtype == torch.bool
                else scores + mask
            )
        weights = scores.softmax(-1)
        dropped = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
        return dropped @ v, weights
    if not causal or Tq == 1:  # one query is the last position: it reads every key
        return F.scaled_dot_product_attention(q, k, v, mask, dropout_p), None
    if mask is not None:
        return F.scaled_dot_product_attention(q, k, v, _with_causal(mask, Tq, Tk), dropout_p), None
    if Tq == Tk:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True), None
    bias = causal_lower_right(Tq, Tk)
    return F.scaled_dot_product_attention(q, k, v, bias, dropout_p), None


class MultiHeadAttention(nn.Module):
    r"""Multi-head attention (see the module docstring for the equations).

    The projections are stored as ``nn.MultiheadAttention`` stores them: ``in_proj`` holds
    :math:`[W^Q; W^K; W^V]` as one ``(3E, E)`` matrix (self-attention projects once),
    ``out_proj`` is :math:`W^O`. The pieces are public so that a Transformer block can
    rotate queries and keys (rotary positions) and extend a key/value cache between
    projecting and attending: :meth:`project` -> :func:`attend` -> :meth:`merge`.

    Args:
        embed_dim: E; num_heads: h (dividing E).
        dropout: on the attention weights, in training mode.
        bias: biases on the projections.

    Example::

        mha = MultiHeadAttention(64, 4)
        out, weights = mha(x, mask=pad[:, None, None, :], need_weights=True)
    """

    def __init__(
        self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        check_positive("embed_dim", embed_dim)
        check_positive("num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        check_unit_interval("dropout", dropout)
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)  # [W_Q; W_K; W_V]
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W_O

    def split_heads(self, x: Tensor) -> Tensor:
        """``(B, T, E) -> (B, h, T, d)``."""
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def merge(self, heads: Tensor) -> Tensor:
        """``(B, h, T, d) -> (B, T, E)``, then :math:`W^O`."""
        B, _, T, _ = heads.shape
        return self.out_proj(heads.transpose(1, 2).reshape(B, T, self.embed_dim))

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention: queries, keys and values of ``x (B, T, E)`` in one matmul, each
        ``(B, h, T, d)``."""
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)

    def project_query(self, x: Tensor) -> Tensor:
        """Queries only (cross-attention): ``(B, T, E) -> (B, h, T, d)``."""
        E = self.embed_dim
        b = None if self.in_proj.bias is None else self.in_proj.bias[:E]
        return self.split_heads(F.linear(x, self.in_proj.weight[:E], b))

    def project_memory(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of a memory ``(B, S, E)`` (cross-attention; once per source)."""
        E = self.embed_dim
        b = None if self.in_proj.bias is None else self.in_proj.bias[E:]
        k, v = F.linear(memory, self.in_proj.weight[E:], b).chunk(2, dim=-1)
        return self.split_heads(k), self.split_heads(v)

    def attend(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """:func:`attend` with this module's dropout (in training mode), then :meth:`merge`:
        ``(B, Tq, E)`` and the per-head weights ``(B, h, Tq, Tk)`` or ``None``."""
        p = self.dropout if self.training else 0.0
        heads, weights = attend(
            q, k, v, mask, causal=causal, dropout_p=p, need_weights=need_weights
        )
        return self.merge(heads), weights

    def forward(
        self,
        query: Tensor,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Self-attention over ``query (B, T, E)``, or cross-attention from it to ``memory
        (B, S, E)``: ``(B, T, E)`` and the weights ``(B, h, T, S)`` when asked for."""
        if query.dim() != 3 or query.shape[-1] != self.embed_dim:
            raise ValueError(
                f"query must have shape (B, T, {self.embed_dim}), got {tuple(query.shape)}"
            )
        if memory is None:
            q, k, v = self.project(query)
        else:
            q = self.project_query(query)
            k, v = self.project_memory(memory)
        return self.attend(q, k, v, mask, causal=causal, need_weights=need_weights)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
