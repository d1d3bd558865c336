"""Attention over a memory (encoder outputs for seq2seq; memory networks, the NTM and
Transformers build on it): additive, dot and general scores, and none (a fixed context);
multi-head scaled dot-product attention and the position schemes of Transformers.

See :mod:`rnnlab.attention.base` for the shared equations and shapes.
"""

from rnnlab.attention.additive import AdditiveAttention
from rnnlab.attention.base import Attended, Attention
from rnnlab.attention.fixed import FixedContext
from rnnlab.attention.multihead import MultiHeadAttention, attend, causal_mask
from rnnlab.attention.multiplicative import DotAttention, GeneralAttention
from rnnlab.attention.positions import POSITIONS, Rotary, alibi_bias, alibi_slopes

ATTENTIONS = ("none", "additive", "dot", "general")


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


__all__ = [
    "ATTENTIONS",
    "POSITIONS",
    "AdditiveAttention",
    "Attended",
    "Attention",
    "DotAttention",
    "FixedContext",
    "GeneralAttention",
    "MultiHeadAttention",
    "Rotary",
    "alibi_bias",
    "alibi_slopes",
    "attend",
    "causal_mask",
    "make_attention",
]
