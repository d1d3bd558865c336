r"""Attention over a memory: the base class that masks, normalises and reads the memory.

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

A single query (``query (B, Q)``) reads small memories by a broadcast multiply and sum
(:func:`dot_rows`, :func:`weighted_sum`) instead of a batched matrix product of one row:
the same sums (equal up to float rounding), faster on one CPU thread for narrow, small
memories (:data:`BROADCAST_WIDTH`, :data:`BROADCAST_LIMIT`).

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

# a single query reads the memory by broadcast multiply and sum while its vectors are at
# most BROADCAST_WIDTH wide and the (B, S, M) product has at most BROADCAST_LIMIT elements
# (1 MiB of float32), by torch.bmm otherwise. One thread, forward + backward of the scores
# and the context, broadcast / bmm time (benchmarks/RESULTS.md, issue 12): 0.50-0.75 for
# M = 20..64 (B*S*M 6,400 to 205k); for M = 128..768 from 0.5 to 1.6 by size, and 1.3-2.7
# without gradients (decoding), so wide memories keep the batched product.
BROADCAST_WIDTH = 64
BROADCAST_LIMIT = 1 << 18


def _broadcast(memory: Tensor) -> bool:
    return memory.shape[-1] <= BROADCAST_WIDTH and memory.numel() <= BROADCAST_LIMIT


def dot_rows(query: Tensor, keys: Tensor) -> Tensor:
    r"""Dot products of one query per row with the keys, :math:`e_j = q^\top k_j`:
    ``query (B, K)``, ``keys (B, S, K)`` -> ``(B, S)``."""
    if _broadcast(keys):
        return (query.unsqueeze(1) * keys).sum(-1)
    return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)


def weighted_sum(weights: Tensor, memory: Tensor) -> Tensor:
    r"""The context :math:`c = \sum_j \alpha_j h_j` of one weighting per row:
    ``weights (B, S)``, ``memory (B, S, M)`` -> ``(B, M)``."""
    if _broadcast(memory):
        return (weights.unsqueeze(-1) * memory).sum(1)
    return torch.bmm(weights.unsqueeze(1), memory).squeeze(1)


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

    def single_scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """The scores of one query per row: ``query (B, Q)``, ``keys (B, S, K)`` -> ``(B, S)``
        (subclasses may compute them more directly than :meth:`scores`)."""
        return self.scores(query.unsqueeze(1), keys).squeeze(1)

    def forward(
        self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor | None = None
    ) -> Attended:
        """The context vector(s) and the attention weights (see the module docstring)."""
        if query.dim() == 2:  # one query per row
            e = self.single_scores(query, keys)  # (B, S)
            if mask is not None:
                e = e.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(e, dim=-1)
            return Attended(weighted_sum(weights, memory), weights)
        e = self.scores(query, keys)  # (B, T, S)
        if mask is not None:
            e = e.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(e, dim=-1)  # (B, T, S)
        return Attended(torch.bmm(weights, memory), weights)  # (B, T, M)
