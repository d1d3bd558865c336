r"""Addressing of a neural Turing machine's memory (Graves, Wayne & Danihelka 2014, 3.3).

Shape glossary: ``B`` batch, ``K`` heads, ``N`` memory slots, ``M`` slot width, ``S`` the
shift range (shifts ``-S .. S``). Every function works on all heads at once.

A head turns its parameters into a weighting over the ``N`` slots in four steps:

.. math::
    \begin{aligned}
    w^c_t(i) &= \frac{\exp(\beta_t K(k_t, M_t(i)))}{\sum_j \exp(\beta_t K(k_t, M_t(j)))},
        \qquad K(u, v) = \frac{u \cdot v}{\|u\| \|v\|} && \text{content (eq. 5-6)} \\
    w^g_t &= g_t w^c_t + (1 - g_t) w_{t-1} && \text{interpolation (eq. 7)} \\
    \tilde w_t(i) &= \sum_{j=0}^{N-1} w^g_t(j)\, s_t(i - j) && \text{circular shift (eq. 8)} \\
    w_t(i) &= \frac{\tilde w_t(i)^{\gamma_t}}{\sum_j \tilde w_t(j)^{\gamma_t}}
        && \text{sharpening (eq. 9)}
    \end{aligned}

and the memory is read and written with it (3.1, 3.2):

.. math::
    r_t = \sum_i w_t(i) M_t(i), \qquad
    M_t(i) = M_{t-1}(i) \prod_h \big(1 - w^h_t(i) e^h_t\big) + \sum_h w^h_t(i) a^h_t .

Notes:
    The shift distribution ``s_t`` has ``2S + 1`` entries for the offsets ``-S .. S``
    (entry ``S + k`` is the offset ``k``; index arithmetic modulo ``N``). Where NaNs are
    known to come from, ``eps`` guards: the norms in the cosine are
    :math:`\sqrt{\|u\|^2 + \epsilon}` (a zero row or key has a finite gradient), and
    sharpening raises :math:`\max(\tilde w, \epsilon)` (a weight that underflowed to 0 has
    no :math:`0^\gamma \ln 0` in the gradient of :math:`\gamma`) as a softmax of
    :math:`\gamma \ln \max(\tilde w, \epsilon)`, which sums to 1 for any :math:`\gamma`
    (the quotient of powers underflows when the weighting is spread out).
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-8


def cosine_similarity(keys: Tensor, memory: Tensor, eps: float = EPS) -> Tensor:
    r""":math:`K(k_h, M(i))` for every head and slot: ``keys (B, K, M)``, ``memory (B, N, M)``
    -> ``(B, K, N)``, with the norms :math:`\sqrt{\|\cdot\|^2 + \epsilon}`."""
    dots = keys @ memory.transpose(1, 2)  # (B, K, N)
    key_norm = torch.sqrt((keys * keys).sum(-1) + eps)  # (B, K)
    slot_norm = torch.sqrt((memory * memory).sum(-1) + eps)  # (B, N)
    return dots / (key_norm.unsqueeze(-1) * slot_norm.unsqueeze(1))


def content_weights(keys: Tensor, beta: Tensor, memory: Tensor, eps: float = EPS) -> Tensor:
    r"""Content addressing, :math:`w^c = \mathrm{softmax}_i(\beta K(k, M(i)))`: ``keys (B, K,
    M)``, key strengths ``beta (B, K)`` (>= 0), ``memory (B, N, M)`` -> ``(B, K, N)``."""
    return torch.softmax(beta.unsqueeze(-1) * cosine_similarity(keys, memory, eps), dim=-1)


def interpolate(content: Tensor, previous: Tensor, gate: Tensor) -> Tensor:
    r""":math:`w^g = g w^c + (1 - g) w_{t-1}`: ``content``, ``previous (B, K, N)``,
    ``gate (B, K)`` in ``[0, 1]``."""
    g = gate.unsqueeze(-1)
    return g * content + (1.0 - g) * previous


def circular_shift(weights: Tensor, shift: Tensor) -> Tensor:
    r"""Circular convolution :math:`\tilde w(i) = \sum_k s(k)\, w(i - k)` over the offsets
    ``k = -S .. S``: ``weights (B, K, N)``, ``shift (B, K, 2S+1)`` -> ``(B, K, N)``.

    ``torch.roll(w, k)[i] = w[i - k]`` (indices modulo ``N``), so each offset is one roll.
    """
    width = shift.shape[-1]
    if width % 2 != 1:
        raise ValueError(f"a shift distribution needs 2S+1 entries, got {width}")
    S = width // 2
    out = shift[..., S : S + 1] * weights  # offset 0
    for k in range(1, S + 1):
        out = out + shift[..., S + k : S + k + 1] * torch.roll(weights, k, dims=-1)
        out = out + shift[..., S - k : S - k + 1] * torch.roll(weights, -k, dims=-1)
    return out


def sharpen(weights: Tensor, gamma: Tensor, eps: float = EPS) -> Tensor:
    r""":math:`w(i) = \tilde w(i)^\gamma / \sum_j \tilde w(j)^\gamma` with ``gamma (B, K)``
    >= 1, computed as :math:`\mathrm{softmax}_i(\gamma \ln \max(\tilde w(i), \epsilon))`.

    The same quotient, but it sums to 1 for every :math:`\gamma`: the direct form
    underflows where the weighting is spread out (128 slots near :math:`1/128` and
    :math:`\gamma = 6`: every :math:`\tilde w^\gamma \approx 10^{-13}`), and a sum that
    small against an :math:`\epsilon` in the denominator, or a float32 underflow to 0,
    leaves a weighting of nearly 0 instead of a sharper one: the head then reads and
    writes nothing just when it tries to focus.
    """
    return torch.softmax(gamma.unsqueeze(-1) * torch.log(weights.clamp_min(eps)), dim=-1)


def address(
    memory: Tensor,
    previous: Tensor,
    key: Tensor,
    beta: Tensor,
    gate: Tensor,
    shift: Tensor,
    gamma: Tensor,
    eps: float = EPS,
) -> Tensor:
    """The four steps of addressing (content, interpolation, shift, sharpening) for ``K``
    heads: ``memory (B, N, M)``, ``previous (B, K, N)``, ``key (B, K, M)``, ``beta, gate,
    gamma (B, K)``, ``shift (B, K, 2S+1)`` -> the new weightings ``(B, K, N)``."""
    w = content_weights(key, beta, memory, eps)
    w = interpolate(w, previous, gate)
    w = circular_shift(w, shift)
    return sharpen(w, gamma, eps)


def read(memory: Tensor, weights: Tensor) -> Tensor:
    r""":math:`r_h = \sum_i w_h(i) M(i)`: ``memory (B, N, M)``, ``weights (B, K, N)`` ->
    ``(B, K, M)``."""
    return weights @ memory


def write(memory: Tensor, weights: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    r"""Erase then add, for ``K`` write heads at once: ``memory (B, N, M)``, ``weights (B,
    K, N)``, ``erase (B, K, M)`` in ``[0, 1]``, ``add (B, K, M)`` -> ``(B, N, M)``.

    :math:`M(i) \leftarrow M(i) \prod_h (1 - w_h(i) e_h) + \sum_h w_h(i) a_h`: the erasures
    commute, and the adds are summed (Graves et al. 2014, 3.2).
    """
    keep = 1.0 - weights.unsqueeze(-1) * erase.unsqueeze(2)  # (B, K, N, M)
    kept = memory * keep.prod(dim=1)
    return kept + weights.transpose(1, 2) @ add  # (B, N, K) @ (B, K, M)
