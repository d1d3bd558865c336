r"""The first-order linear recurrence ``h_t = a_t * h_{t-1} + b_t`` over a whole sequence.

.. math:: h_t = a_t \odot h_{t-1} + b_t, \qquad t = 1..T, \quad h_0 \text{ given}

elementwise, real or complex: the recurrence of every cell whose state is linear in the
state and gated by the input only (minGRU, minLSTM, LRU, S6). Padded steps set ``a = 1``,
``b = 0`` (:func:`hold_padding`), so the state holds over them.

:func:`linear_scan` runs it with one of several kernels, all equal up to rounding:

* ``loop``: the sequential loop, one fused multiply-add per step over the contiguous
  time-major slice (no autograd graph: see below).
* ``chunked``: the two-level scan. Time is cut into ``K`` chunks of ``C`` steps (about
  ``sqrt(T)``); a loop of ``C`` steps runs inside all chunks at once from a zero state,
  a loop of ``K`` steps carries the chunk ends, and one elementwise pass adds each
  chunk's carried-in state times its running product of ``a``. About ``2 sqrt(T)``
  sequential steps, each on ``K`` times more data.
* ``tree``: the work-efficient odd-even (Blelloch-style) tree: pairs of steps combine into
  one, ``(a_2 a_1, a_2 b_1 + b_2)``, the half-length scan recurses, and the even steps
  are filled in from the odd ones; ``log2 T`` levels, ``O(T)`` work.
* ``associative``: ``torch._higher_order_ops.associative_scan`` with the same combine, in
  its ``generic`` mode (the ``pointwise`` mode needs CUDA or XPU).

Whatever the kernel, the backward pass is itself a linear scan run by the same kernel,
backwards in time (:class:`_LinearScan`):

.. math:: g_t = \bar{\partial L / \partial h_t} + \bar a_{t+1} g_{t+1}, \quad
          \partial a_t = g_t \bar h_{t-1}, \quad \partial b_t = g_t, \quad
          \partial h_0 = \bar a_1 g_1

(conjugates for complex values, PyTorch's convention). Nothing is recorded per step, so
the backward time is linear in ``T`` whichever kernel runs.

``method="auto"`` (the default) picks the kernel from the work per step (``B`` times the
state width), the length and the device, through a small table
(:mod:`rnnlab.cells.scan_table`) that ``rnnlab bench --select scan --calibrate`` measures.

:func:`log_linear_scan` is the log-space form (Heinsen 2023) for positive ``a``, ``b``,
``h_0``: ``log h_t = a*_t + logcumsumexp(log h_0, log b_s - a*_s)`` with
``a*_t = sum_{s<=t} log a_s``; plain autograd over ``cumsum`` and ``logcumsumexp``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Protocol

import torch
from torch import Tensor

from rnnlab.cells import scan_table

__all__ = [
    "METHODS",
    "chunked_scan",
    "hold_padding",
    "linear_scan",
    "log_linear_scan",
    "loop_scan",
    "tree_scan",
]

# each kernel: a, b (B, T, N) and h0 (B, N) -> every state (B, T, N), without autograd;
# ``reverse``: the adjoint scan g_t = a_{t+1} * g_{t+1} + b_t from g_{T+1} = h0 (backward)


def loop_scan(
    a: Tensor, b: Tensor, h0: Tensor, chunk: int | None = None, reverse: bool = False
) -> Tensor:
    """The sequential loop, one fused multiply-add per step, written into one output."""
    out = torch.empty_like(b)
    a_s, b_s, out_s = a.unbind(1), b.unbind(1), out.unbind(1)
    if reverse:  # g_T = g_{T+1} + b_T, then g_t = a_{t+1} * g_{t+1} + b_t (no shifted copy)
        h = torch.add(b_s[-1], h0, out=out_s[-1])
        for t in range(len(b_s) - 2, -1, -1):
            h = torch.addcmul(b_s[t], a_s[t + 1], h, out=out_s[t])
        return out
    h = h0
    for a_t, b_t, out_t in zip(a_s, b_s, out_s, strict=True):
        h = torch.addcmul(b_t, a_t, h, out=out_t)  # h_t = a_t * h_{t-1} + b_t
    return out


def chunked_scan(
    a: Tensor, b: Tensor, h0: Tensor, chunk: int | None = None, reverse: bool = False
) -> Tensor:
    """The two-level scan: chunks of ``chunk`` steps (``ceil(sqrt(T))`` by default).

    Pass 1 runs every chunk from a zero state to its end state ``L_k``; the chunk ends
    carry ``s_k = P_{k-1} s_{k-1} + L_{k-1}`` (``P`` the chunk's product of ``a``,
    ``s_0 = h_0``); pass 2 runs every chunk again from ``s_k``, writing the states.
    """
    if reverse:
        a = _shift(a)
    B, T, N = a.shape
    C = chunk or default_chunk(T)
    K = -(-T // C)  # chunks
    if K * C != T:  # pad the last chunk with steps that hold the state (a = 1, b = 0)
        a = torch.cat([a, a.new_ones(B, K * C - T, N).expand(B, -1, N)], dim=1)
        b = torch.cat([b, b.new_zeros(B, K * C - T, N)], dim=1)
    a_c, b_c = a.view(B, K, C, N), b.view(B, K, C, N)
    inner = range(C - 1, -1, -1) if reverse else range(C)
    end = b_c.new_zeros(B, K, N)  # pass 1: each chunk's end state from a zero state
    for c in inner:
        end = torch.addcmul(b_c[:, :, c], a_c[:, :, c], end)
    prod = a_c.prod(dim=2)  # (B, K, N)
    outer = list(range(K - 1, -1, -1) if reverse else range(K))
    carry = torch.empty_like(end)  # the state entering each chunk
    carry[:, outer[0]] = h0
    for prev, k in itertools.pairwise(outer):
        torch.addcmul(end[:, prev], prod[:, prev], carry[:, prev], out=carry[:, k])
    out = torch.empty_like(b_c)  # pass 2: every chunk from its carried-in state
    h = carry
    for c in inner:
        h = torch.addcmul(b_c[:, :, c], a_c[:, :, c], h, out=out[:, :, c])
    return out.view(B, K * C, N)[:, :T]


def tree_scan(
    a: Tensor, b: Tensor, h0: Tensor, chunk: int | None = None, reverse: bool = False
) -> Tensor:
    """The odd-even tree: ``ceil(log2 T)`` levels of pairwise combines."""
    if reverse:
        return tree_scan(*_adjoint(a, b), h0, chunk).flip(1)
    first = torch.addcmul(b[:, :1], a[:, :1], h0.unsqueeze(1))  # fold h_0 into step 1
    return _tree(a, torch.cat([first, b[:, 1:]], dim=1))


def _tree(a: Tensor, b: Tensor) -> Tensor:
    B, T, N = a.shape
    if T == 1:
        return b
    if T % 2:  # an odd length: one padded step that holds the state
        a = torch.cat([a, a.new_ones(B, 1, N)], dim=1)
        b = torch.cat([b, b.new_zeros(B, 1, N)], dim=1)
    a_even, a_odd = a.view(B, -1, 2, N).unbind(2)  # steps 0, 2, 4 ... and 1, 3, 5 ...
    b_even, b_odd = b.view(B, -1, 2, N).unbind(2)
    # two steps as one: h_{2i+1} = (a_{2i+1} a_{2i}) h_{2i-1} + (a_{2i+1} b_{2i} + b_{2i+1})
    h_odd = _tree(a_odd * a_even, torch.addcmul(b_odd, a_odd, b_even))
    # the even steps from the odd ones: h_{2i} = a_{2i} h_{2i-1} + b_{2i}
    h_even = b_even.clone()
    h_even[:, 1:] = torch.addcmul(b_even[:, 1:], a_even[:, 1:], h_odd[:, :-1])
    return torch.stack([h_even, h_odd], dim=2).view(B, -1, N)[:, :T]


def associative_kernel(
    a: Tensor, b: Tensor, h0: Tensor, chunk: int | None = None, reverse: bool = False
) -> Tensor:
    """``torch``'s associative scan (``generic`` mode) with the linear-recurrence combine."""
    from torch._higher_order_ops.associative_scan import associative_scan

    if reverse:
        return associative_kernel(*_adjoint(a, b), h0, chunk).flip(1)

    def combine(
        first: tuple[Tensor, Tensor], second: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, Tensor]:
        (a1, b1), (a2, b2) = first, second
        return a2 * a1, a2 * b1 + b2

    first = torch.addcmul(b[:, :1], a[:, :1], h0.unsqueeze(1))
    _, h = associative_scan(
        combine, (a, torch.cat([first, b[:, 1:]], dim=1)), dim=1, combine_mode="generic"
    )
    return h


def _shift(a: Tensor) -> Tensor:
    """``a_{t+1}`` at step ``t``, 1 after the last step: the adjoint scan's factors."""
    return torch.cat([a[:, 1:], torch.ones_like(a[:, :1])], dim=1)


def _adjoint(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The adjoint scan as a forward one: time reversed, ``a`` shifted by one step."""
    return _shift(a).flip(1), b.flip(1)


class Kernel(Protocol):
    def __call__(
        self, a: Tensor, b: Tensor, h0: Tensor, chunk: int | None = None, reverse: bool = False
    ) -> Tensor: ...


METHODS: dict[str, Kernel] = {
    "loop": loop_scan,
    "chunked": chunked_scan,
    "tree": tree_scan,
    "associative": associative_kernel,
}


def default_chunk(T: int) -> int:
    """``ceil(sqrt(T))``: the chunk length that balances the two loops of ``chunked``."""
    return math.isqrt(T - 1) + 1 if T > 1 else 1


class _LinearScan(torch.autograd.Function):
    """Forward and backward both run one kernel on ``(B, T, N)`` tensors."""

    @staticmethod
    def forward(
        ctx: Any, a: Tensor, b: Tensor, h0: Tensor, method: str, chunk: int | None
    ) -> Tensor:
        kernel = METHODS[method]
        h = kernel(a, b, h0, chunk)
        ctx.save_for_backward(a, h0, h)
        ctx.kernel, ctx.chunk = kernel, chunk
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor | None, ...]:
        a, h0, h = ctx.saved_tensors
        a_c = a.conj() if a.is_complex() else a
        # g_t = grad_t + conj(a_{t+1}) g_{t+1}: the same scan, backwards in time
        g = ctx.kernel(a_c, grad_h, torch.zeros_like(h0), ctx.chunk, reverse=True)
        # grad a_t = g_t conj(h_{t-1}), written in two parts (no shifted copy of h)
        h, h0 = (h.conj(), h0.conj()) if h.is_complex() else (h, h0)
        grad_a = torch.empty_like(g)
        torch.mul(g[:, 1:], h[:, :-1], out=grad_a[:, 1:])
        torch.mul(g[:, 0], h0, out=grad_a[:, 0])
        grad_h0 = g[:, 0] * a_c[:, 0]
        return grad_a, g, grad_h0, None, None


def linear_scan(
    a: Tensor, b: Tensor, h0: Tensor, *, method: str = "auto", chunk: int | None = None
) -> Tensor:
    r"""Every state of ``h_t = a_t * h_{t-1} + b_t``: ``(B, T, *S)`` from ``a``, ``b``
    ``(B, T, *S)`` (one dtype, real or complex) and ``h0 (B, *S)``.

    Args:
        method: ``loop``, ``chunked``, ``tree``, ``associative`` or ``auto`` (the kernel
            :func:`rnnlab.cells.scan_table.choose` picks for this size and device).
        chunk: ``chunked``'s chunk length (``ceil(sqrt(T))`` by default; at most ``T``).

    Differentiable in ``a``, ``b`` and ``h0`` with a backward that is itself a scan (see
    the module docstring). Example::

        h = linear_scan(torch.rand(4, 100, 8), torch.randn(4, 100, 8), torch.zeros(4, 8))
    """
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(
            f"a and b must have one shape (B, T, ...), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    B, T, *S = a.shape
    if T == 0:
        raise ValueError("linear_scan needs at least one step, got T = 0")
    if tuple(h0.shape) != (B, *S):
        raise ValueError(f"h0 must have shape {(B, *S)}, got {tuple(h0.shape)}")
    if a.dtype != b.dtype or h0.dtype != b.dtype:
        raise TypeError(f"a, b and h0 must share a dtype, got {a.dtype}, {b.dtype}, {h0.dtype}")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    if chunk is not None and chunk > T:
        raise ValueError(f"chunk must be at most the sequence length T = {T}, got {chunk}")
    M = B * math.prod(S)
    if method == "auto":
        method, table_chunk = scan_table.choose(M, T, a.device.type)
        chunk = chunk or table_chunk
    elif method not in METHODS:
        raise ValueError(f"unknown scan method {method!r}; expected auto or one of {list(METHODS)}")
    N = math.prod(S)
    h = _LinearScan.apply(a.reshape(B, T, N), b.reshape(B, T, N), h0.reshape(B, N), method, chunk)
    return h.view(B, T, *S)


def log_linear_scan(log_a: Tensor, log_b: Tensor, log_h0: Tensor | None = None) -> Tensor:
    r"""Every state of ``h_t = a_t h_{t-1} + b_t`` for positive ``a``, ``b``, ``h_0``, from
    their logarithms (Heinsen 2023): ``(B, T, *S)`` and ``(B, *S)`` -> ``h (B, T, *S)``.

    .. math:: \log h_t = a^*_t + \operatorname{logcumsumexp}_{s \le t}
              \big(\log h_0, \log b_s - a^*_s\big), \qquad a^*_t = \sum_{s \le t} \log a_s

    ``log_h0=None``: ``h_0 = 0``. Padded steps take ``log a = 0``, ``log b = -inf``
    (the first step must be real). Slower and less accurate than :func:`linear_scan`
    here (``benchmarks/RESULTS.md``); kept as the papers' form.
    """
    if log_a.shape != log_b.shape or log_a.dim() < 2 or log_a.shape[1] == 0:
        raise ValueError(
            f"log_a and log_b must have one shape (B, T >= 1, ...), got {tuple(log_a.shape)} "
            f"and {tuple(log_b.shape)}"
        )
    a_star = log_a.cumsum(dim=1)  # (B, T, *S)
    terms = log_b - a_star
    if log_h0 is not None:
        terms = torch.cat([log_h0.unsqueeze(1), terms], dim=1)  # (B, T+1, *S)
        return torch.exp(a_star + terms.logcumsumexp(dim=1)[:, 1:])
    return torch.exp(a_star + terms.logcumsumexp(dim=1))


def hold_padding(a: Tensor, b: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """``a = 1``, ``b = 0`` where ``mask (B, T)`` is false (padded steps hold the state);
    ``torch.where``, so NaN in the padding reaches neither the values nor the gradients."""
    if mask is None:
        return a, b
    m = mask.view(*mask.shape, *([1] * (a.dim() - 2)))
    return torch.where(m, a, torch.ones_like(a)), torch.where(m, b, torch.zeros_like(b))
