"""No attention: the same context at every step (an encoder-decoder without attention)."""

from __future__ import annotations

from torch import Tensor

from rnnlab.attention.base import Attention


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
