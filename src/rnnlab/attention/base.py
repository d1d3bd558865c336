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
