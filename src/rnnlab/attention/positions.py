r"""Where a token is: the position schemes of a Transformer.

Attention itself is blind to order; a Transformer tells it positions in one of four ways.

* **sinusoidal** (Vaswani et al. 2017), added to the token embeddings:
  :math:`PE_{p, 2i} = \sin(p / 10000^{2i/E})`, :math:`PE_{p, 2i+1} = \cos(p / 10000^{2i/E})`.
* **learned** (Gehring et al. 2017; GPT): a trained table of ``max_length`` rows, added to
  the embeddings; it has no row for a position past ``max_length``.
* **rotary** (Su et al. 2021, RoFormer): queries and keys are rotated by an angle
  proportional to their absolute position, so that :math:`q_m^\top k_n` depends on
  :math:`m - n` only. Layout: **half-rotated** (GPT-NeoX / Llama), the pairs rotated
  together are features :math:`(i, i + d/2)`, not the interleaved :math:`(2i, 2i+1)` of the
  paper: :math:`\mathrm{rot}(x)_p = [x_1 \cos\theta_p - x_2 \sin\theta_p;\ x_2 \cos\theta_p
  + x_1 \sin\theta_p]` with :math:`x = [x_1; x_2]` and :math:`\theta_{p,i} = p \cdot
  10000^{-2i/d}`, :math:`i < d/2`. Queries and keys are rotated at their absolute
  positions *before* the keys enter a cache, so cached keys are never rotated again.
* **alibi** (Press, Smith & Lewis 2022): no embedding; a bias :math:`-m_h |i - j|` on the
  score of query position :math:`i` and key position :math:`j`, with head slopes
  :math:`m_h` a geometric sequence (:math:`2^{-8h/H}` for :math:`H` a power of two).

Rotary and ALiBi depend on distances only, so a cache may slide over a long stream; the
additive schemes bake a token's absolute position into its keys.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive

POSITIONS = ("rotary", "alibi", "sinusoidal", "learned", "none")
RELATIVE = ("rotary", "alibi", "none")  # scores depend on distances only (or on nothing)


def sinusoidal_table(positions: Tensor, dim: int) -> Tensor:
    """``positions (T,)`` long -> ``(T, dim)`` float32 sinusoids (odd ``dim``: the last
    cosine column is dropped)."""
    i = torch.arange(0, dim, 2, device=positions.device, dtype=torch.float64)
    angle = positions.double().unsqueeze(1) / (10000.0 ** (i / dim))  # (T, ceil(dim/2))
    table = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)  # sin, cos interleaved
    return table[:, :dim].float()


class SinusoidalPositions(nn.Module):
    """The fixed sinusoidal embedding of positions (see the module docstring); no weights."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        check_positive("dim", dim)
        self.dim = dim

    def forward(self, positions: Tensor) -> Tensor:
        """``positions (T,)`` -> ``(T, dim)``."""
        return sinusoidal_table(positions, self.dim)


class LearnedPositions(nn.Module):
    """A trained embedding per position ``0 .. max_length - 1``."""

    def __init__(self, max_length: int, dim: int) -> None:
        super().__init__()
        check_positive("max_length", max_length)
        self.max_length = max_length
        self.table = nn.Embedding(max_length, dim)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, positions: Tensor) -> Tensor:
        """``positions (T,)`` -> ``(T, dim)``; a one-line error past ``max_length``."""
        if positions.numel() and int(positions.max()) >= self.max_length:
            raise ValueError(
                f"position {int(positions.max())} is past the learned table of {self.max_length} "
                "positions (max_length); use rotary or alibi positions to go further"
            )
        return self.table(positions)


class Rotary(nn.Module):
    """Rotary position embedding, half-rotated layout (see the module docstring).

    Args:
        head_dim: d, even.
        base: the frequency base (10000).

    Example::

        rope = Rotary(16)
        cos, sin = rope.angles(torch.arange(5, 9))      # positions 5..8
        q = rope.rotate(q, cos, sin)                     # q (B, h, 4, 16)
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary positions need an even head width, got {head_dim}")
        self.head_dim, self.base = head_dim, base

    def angles(
        self, positions: Tensor, dtype: torch.dtype = torch.float32
    ) -> tuple[Tensor, Tensor]:
        r""":math:`\cos \theta, \sin \theta` ``(T, d/2)`` at ``positions (T,)`` (computed in
        float64, so far positions of a long stream stay exact)."""
        i = torch.arange(0, self.head_dim, 2, device=positions.device, dtype=torch.float64)
        theta = positions.double().unsqueeze(1) * self.base ** (-i / self.head_dim)
        return theta.cos().to(dtype), theta.sin().to(dtype)

    @staticmethod
    def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """``x (..., T, d)`` rotated at the positions of ``cos, sin (T, d/2)``."""
        x1, x2 = x.chunk(2, dim=-1)
        # rot(x) = [x1 cos - x2 sin ; x2 cos + x1 sin]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def alibi_slopes(num_heads: int) -> Tensor:
    r"""The head slopes :math:`m_h` of ALiBi: :math:`2^{-8h/H}` for :math:`h = 1..H` when
    :math:`H` is a power of two; otherwise those of the nearest lower power of two, then
    every other slope of twice as many heads (Press et al. 2022, their code)."""
    check_positive("num_heads", num_heads)

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    if math.log2(num_heads).is_integer():
        slopes = power_of_two(num_heads)
    else:
        lower = 2 ** math.floor(math.log2(num_heads))
        slopes = power_of_two(lower) + power_of_two(2 * lower)[0::2][: num_heads - lower]
    return torch.tensor(slopes)


def alibi_bias(slopes: Tensor, q_positions: Tensor, k_positions: Tensor) -> Tensor:
    r""":math:`-m_h |i - j|`: ``(H, Tq, Tk)`` for query positions ``i`` and key positions
    ``j`` (the distance taken both ways, so an encoder reading both ways can use it; a
    causal mask hides the future keys of a decoder)."""
    distance = (q_positions.unsqueeze(1) - k_positions.unsqueeze(0)).abs().to(slopes.dtype)
    return -slopes.view(-1, 1, 1) * distance
