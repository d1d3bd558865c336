"""Multiplicative attention of Luong, Pham & Manning (2015): dot and general (bilinear)
scores."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.attention.base import Attention, dot_rows


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

    def single_scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return dot_rows(query, keys)  # (B, S)


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

    def single_scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return dot_rows(query, keys)  # (B, S)
