r"""Shared parts of the orthogonal and unitary cells (uRNN, full-capacity uRNN, expRNN, scoRNN).

* :class:`CachedRecurrenceCell`: a cell whose step uses tensors derived from its parameters
  (``W = expm(A)``, the uRNN's unit phases); they are computed once per unroll inside
  :meth:`~rnnlab.cells.Cell.unrolling` and on every call outside it.
* ``modReLU`` (Arjovsky, Shah & Bengio 2016), real and complex:
  :math:`\sigma_b(z) = \mathrm{relu}(|z| + b)\, z / |z|`.
* Skew-symmetric / skew-Hermitian maps of unconstrained parameters and the block-diagonal
  initialisations of Henaff et al. (2016) and of the scoRNN / expRNN papers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import torch
from torch import Tensor

from rnnlab.cells.base import Cell

F = TypeVar("F")

MODRELU_EPS = 1e-5
"""Floor of :math:`|z|` in the complex modReLU's division (the uRNN code adds 1e-5)."""

SKEW_INITS = ("henaff", "cayley")


class CachedRecurrenceCell(Cell, Generic[F]):
    """A cell whose recurrence is derived from its parameters by a costly map.

    Subclasses implement :meth:`_derive` (e.g. ``matrix_exp(A - A^T)``); :meth:`step` reads
    :meth:`_derived`, which inside :meth:`unrolling` is the value computed once on entry
    (so one unroll of ``T`` steps pays for one ``matrix_exp`` and its backward once) and
    outside it a fresh computation. An unroll nested in another (each token's unroll inside
    :func:`rnnlab.cells.base.decoding`) reuses the outer value, unless that one was
    computed without gradients and gradients are now enabled.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: F | None = None
        self._cache_has_grad = False  # computed with gradients enabled

    def _derive(self) -> F:
        raise NotImplementedError

    def _derived(self) -> F:
        return self._cache if self._cache is not None else self._derive()

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        if self._cache is not None and (self._cache_has_grad or not torch.is_grad_enabled()):
            yield  # nested in an unroll whose value serves here too
            return
        outer = self._cache, self._cache_has_grad
        self._cache, self._cache_has_grad = self._derive(), torch.is_grad_enabled()
        try:
            yield
        finally:
            self._cache, self._cache_has_grad = outer


# ------------------------------------------------------------------------------ modReLU


def modrelu(z: Tensor, bias: Tensor) -> Tensor:
    r"""Real modReLU, :math:`\mathrm{sign}(z)\,\mathrm{relu}(|z| + b)`."""
    return torch.sign(z) * torch.relu(z.abs() + bias)


def complex_modrelu(z: Tensor, bias: Tensor, eps: float = MODRELU_EPS) -> Tensor:
    r"""Complex modReLU, :math:`\mathrm{relu}(|z| + b)\, z / \max(|z|, \epsilon)`.

    ``z`` is complex, ``bias`` real. The floor :math:`\epsilon` keeps the value and its
    gradient finite at :math:`z = 0` (where the phase :math:`z / |z|` is undefined); for
    :math:`|z| \ge \epsilon` the result is exact.
    """
    modulus = z.abs()
    return z * (torch.relu(modulus + bias) / modulus.clamp_min(eps))


def modrelu_scale(re: Tensor, im: Tensor, bias: Tensor, eps: float = MODRELU_EPS) -> Tensor:
    r"""The real factor :math:`s` of the complex modReLU, :math:`\sigma_b(z) = s z`, from
    the real and imaginary parts of :math:`z`:
    :math:`s = \mathrm{relu}(m + b) / m` with :math:`m = \max(|z|, \epsilon)`.

    Equal to :func:`complex_modrelu` (value and gradient) where :math:`|z| \ge \epsilon`;
    below it the modulus is taken as :math:`\epsilon` in the numerator too, so the value
    stays within :math:`\epsilon` and the gradient finite. Working on the real parts
    saves the complex ``abs`` and its ``sgn`` backward in every step of a unitary RNN.
    """
    modulus = (re * re + im * im).clamp_min(eps * eps).sqrt()
    return torch.relu(modulus + bias) / modulus


# ---------------------------------------------------------------------- skew parametrisations


def skew_symmetric(a: Tensor) -> Tensor:
    """``S = U - U^T`` with ``U`` the strictly upper triangle of ``a`` (as in expRNN)."""
    upper = a.triu(1)
    return upper - upper.mT


def skew_hermitian(a_re: Tensor, a_im: Tensor) -> Tensor:
    """Complex ``S = R + iJ`` with ``R`` skew-symmetric and ``J`` symmetric, so ``S^H = -S``.

    ``R`` is built from the strict upper triangle of ``a_re`` and ``J`` from the upper
    triangle (diagonal included) of ``a_im``: exactly ``N^2`` free real numbers, the
    dimension of the Lie algebra u(N).
    """
    upper_im = a_im.triu(0)
    sym = upper_im + upper_im.triu(1).mT
    return torch.complex(skew_symmetric(a_re), sym)


def check_skew_init(init: str) -> None:
    if init not in SKEW_INITS:
        raise ValueError(f"init must be one of {', '.join(SKEW_INITS)}; got {init!r}")


def block_skew_init(
    n: int, init: str, generator: torch.Generator | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    r"""Block-diagonal skew-symmetric ``(n, n)`` with 2x2 blocks ``[[0, s], [-s, 0]]``.

    ``init="henaff"`` (Henaff, Szlam & LeCun 2016): :math:`s \sim U(-\pi, \pi)`.
    ``init="cayley"`` (scoRNN; expRNN's ``cayley_init_``):
    :math:`s = -\sqrt{(1 - \cos t) / (1 + \cos t)} = -\tan(t/2)`, :math:`t \sim U(0, \pi/2)`,
    so that the Cayley transform of a block is a rotation by :math:`t`.
    With ``n`` odd the last unit has no block (a zero row and column).
    """
    check_skew_init(init)
    s = torch.empty(n // 2, dtype=dtype)
    if init == "henaff":
        s.uniform_(-math.pi, math.pi, generator=generator)
    else:
        t = s.uniform_(0.0, math.pi / 2, generator=generator)
        s = -torch.sqrt((1.0 - torch.cos(t)) / (1.0 + torch.cos(t)))
    upper = torch.zeros(max(n - 1, 0), dtype=s.dtype)
    upper[::2] = s
    a = torch.diag(upper, 1)
    return a - a.mT
