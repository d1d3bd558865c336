r"""Attention over a memory of encoder outputs: additive, dot and general scores.

Every module computes, for a query :math:`q` (the decoder's output at step :math:`t`) and
the memory :math:`h_1 \dots h_S` (the encoder's outputs),

.. math::
    e_j = \mathrm{score}(q, h_j), \qquad
    \alpha_j = \frac{\exp e_j}{\sum_{k \in \mathrm{real}} \exp e_k}, \qquad
    c = \sum_j \alpha_j h_j

with padded source positions masked out (:math:`\alpha_j = 0`). The scores:

* additive (Bahdanau, Cho & Bengio 2015): :math:`v^\top \tanh(W_q q + W_k h_j + b)`;
* dot (Luong, Pham & Manning 2015): :math:`q^\top h_j` (needs equal sizes);
* general (Luong et al. 2015): :math:`q^\top W_a h_j`.

The part of each score that depends on the memory only (:math:`W_k h_j + b`, :math:`W_a h_j`)
is computed once per source by :meth:`Attention.project_keys`, not at every decoder step.

Shapes: ``query (B, Q)`` or ``(B, T, Q)`` (all steps at once), ``keys (B, S, K)``,
``memory (B, S, M)``, ``mask (B, S)`` bool (True on real positions) -> ``context (B, M)``
(or ``(B, T, M)``) and ``weights (B, S)`` (or ``(B, T, S)``), each row summing to 1.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive

ATTENTIONS = ("none", "additive", "dot", "general")


class Attended(NamedTuple):
    context: Tensor  # (B, M) or (B, T, M): the weighted mean of the memory
    weights: Tensor  # (B, S) or (B, T, S): the attention distribution over source positions


class Attention(nn.Module):
    """Base of the attention modules: subclasses implement :meth:`project_keys` and
    :meth:`scores`; :meth:`forward` masks, normalises and reads the memory.

    Attributes:
        query_size: Q; memory_size: M.
    """

    query_size: int
    memory_size: int

    def project_keys(self, memory: Tensor) -> Tensor:
        """The memory-only part of the scores, ``(B, S, M) -> (B, S, K)``, computed once
        per source."""
        raise NotImplementedError

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """Unnormalised scores ``e``: ``query (B, T, Q)``, ``keys (B, S, K)`` -> ``(B, T, S)``."""
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor | None = None
    ) -> Attended:
        """The context vector(s) and the attention weights (see the module docstring)."""
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query  # (B, T, Q)
        e = self.scores(q, keys)  # (B, T, S)
        if mask is not None:
            e = e.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(e, dim=-1)  # (B, T, S)
        context = torch.bmm(weights, memory)  # (B, T, M)
        if single:
            return Attended(context.squeeze(1), weights.squeeze(1))
        return Attended(context, weights)


class AdditiveAttention(Attention):
    r"""Additive ("concat") attention of Bahdanau et al. (2015):
    :math:`e_j = v^\top \tanh(W_q q + W_k h_j + b)`.

    Args:
        query_size: Q; memory_size: M.
        attention_size: A, the width of the hidden layer of the score (default Q).

    Example::

        attn = AdditiveAttention(64, 128)
        keys = attn.project_keys(memory)                # (B, S, 64), once per source
        context, weights = attn(query, keys, memory, mask)
    """

    def __init__(
        self, query_size: int, memory_size: int, attention_size: int | None = None
    ) -> None:
        super().__init__()
        check_positive("query_size", query_size)
        check_positive("memory_size", memory_size)
        A = attention_size if attention_size is not None else query_size
        check_positive("attention_size", A)
        self.query_size, self.memory_size, self.attention_size = query_size, memory_size, A
        self.query_proj = nn.Linear(query_size, A, bias=False)  # W_q
        self.key_proj = nn.Linear(memory_size, A)  # W_k, b
        self.v = nn.Linear(A, 1, bias=False)

    def project_keys(self, memory: Tensor) -> Tensor:
        return self.key_proj(memory)  # (B, S, A): W_k h_j + b

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        q = self.query_proj(query)  # (B, T, A)
        # e_tj = v^T tanh(W_q q_t + W_k h_j + b)
        hidden = torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1))  # (B, T, S, A)
        return self.v(hidden).squeeze(-1)  # (B, T, S)


class DotAttention(Attention):
    r"""Dot-product attention of Luong et al. (2015): :math:`e_j = q^\top h_j`.

    The query and the memory must have the same size (use :class:`GeneralAttention`
    otherwise). The keys are the memory itself.
    """

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        check_positive("query_size", query_size)
        check_positive("memory_size", memory_size)
        if query_size != memory_size:
            raise ValueError(
                f"dot attention compares queries of size {query_size} with memory of size "
                f"{memory_size}; they must be equal (use general attention instead)"
            )
        self.query_size, self.memory_size = query_size, memory_size

    def project_keys(self, memory: Tensor) -> Tensor:
        return memory

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        # e_tj = q_t . h_j
        return torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)


class GeneralAttention(Attention):
    r"""General (bilinear) attention of Luong et al. (2015): :math:`e_j = q^\top W_a h_j`,
    with :math:`k_j = W_a h_j` computed once per source."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        check_positive("query_size", query_size)
        check_positive("memory_size", memory_size)
        self.query_size, self.memory_size = query_size, memory_size
        self.key_proj = nn.Linear(memory_size, query_size, bias=False)  # W_a

    def project_keys(self, memory: Tensor) -> Tensor:
        return self.key_proj(memory)  # (B, S, Q): W_a h_j

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        # e_tj = q_t . (W_a h_j)
        return torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)


class FixedContext(Attention):
    r"""No attention: the context is the memory's single entry at every step,
    :math:`c_t = c` (the encoder's final state, Sutskever et al. 2014; Cho et al. 2014),
    with weight 1. Used with a ``(B, 1, M)`` memory."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.query_size, self.memory_size = query_size, memory_size

    def project_keys(self, memory: Tensor) -> Tensor:
        return memory[:, :, :0]  # (B, S, 0): nothing to precompute

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return query.new_zeros(query.shape[0], query.shape[1], keys.shape[1])


def make_attention(kind: str, query_size: int, memory_size: int) -> Attention:
    """The attention module ``kind`` (``none``, ``additive``, ``dot`` or ``general``)."""
    if kind == "additive":
        return AdditiveAttention(query_size, memory_size)
    if kind == "dot":
        return DotAttention(query_size, memory_size)
    if kind == "general":
        return GeneralAttention(query_size, memory_size)
    if kind == "none":
        return FixedContext(query_size, memory_size)
    raise ValueError(f"unknown attention {kind!r}; expected one of {', '.join(ATTENTIONS)}")
