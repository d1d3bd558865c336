"""Additive ("concat") attention of Bahdanau, Cho & Bengio (2015)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.attention.base import Attention


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
