"""Full-capacity unitary RNN (Wisdom, Powers, Hershey, Le Roux & Atlas 2016)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.constrained import CachedRecurrenceCell, complex_modrelu, skew_hermitian


class FullURNNState(NamedTuple):
    h_re: Tensor  # (B, N) real part of the complex state
    h_im: Tensor  # (B, N) imaginary part


def random_skew_hermitian(n: int) -> Tensor:
    r""":math:`S = Q\,\mathrm{diag}(i\theta)\,Q^H`, ``Q`` Haar-random unitary,
    :math:`\theta \sim U(-\pi, \pi)`; complex128 ``(n, n)``, so :math:`e^S` has eigenvalues
    :math:`e^{i\theta}` spread over the unit circle in a random basis."""
    g = torch.randn(2, n, n, dtype=torch.float64)
    Q, R = torch.linalg.qr(torch.complex(g[0], g[1]))
    r = torch.diagonal(R)
    Q = Q * (r / r.abs())  # fix the column phases: Haar measure (Mezzadri 2007)
    theta = torch.empty(n, dtype=torch.float64).uniform_(-math.pi, math.pi)
    return (Q * (1j * theta)) @ Q.conj().mT


class FullURNNCell(CachedRecurrenceCell[Tensor]):
    r"""Unitary RNN whose recurrent matrix ranges over the whole unitary group U(N).

    .. math::
        \begin{aligned}
        W &= \exp(S), \qquad S = -S^H \text{ (skew-Hermitian, from real parameters)} \\
        h_t &= \sigma_b(W h_{t-1} + V x_t), \qquad y_t = [\mathrm{Re}\, h_t,
              \mathrm{Im}\, h_t] \\
        \sigma_b(z) &= \mathrm{relu}(|z| + b)\, z / |z| \quad \text{(modReLU)}
        \end{aligned}

    with :math:`h_t \in \mathbb{C}^N` and :math:`V \in \mathbb{C}^{N \times D}`.
    :math:`S = R + iJ` with :math:`R` skew-symmetric (the strict upper triangle of
    ``A_re``) and :math:`J` symmetric (the upper triangle of ``A_im``): :math:`N^2` free real
    numbers, the dimension of U(N), and every value gives a unitary :math:`W`;
    :meth:`manifold_parameters` returns ``[A_re, A_im]``. :math:`W` is computed with
    ``torch.linalg.matrix_exp`` (complex) once per unroll inside :meth:`unrolling`:
    :math:`O(N^3)` per unroll, :math:`O(B N^2)` complex per step.

    Initialisation: :math:`W = Q\,\mathrm{diag}(e^{i\theta})\,Q^H` with ``Q`` Haar-random
    and :math:`\theta \sim U(-\pi, \pi)`; ``V`` Glorot uniform for a map from D to 2N real
    units; :math:`b = 0`.

    Args:
        input_size: D.
        hidden_size: N, complex units (the output has 2N real features).

    Shapes: ``x_t (B, D)``, ``state = FullURNNState(h_re (B, N), h_im (B, N))`` ->
    ``y_t (B, 2N)``.

    Example::

        cell = FullURNNCell(10, 128)
        y, s = cell(torch.randn(4, 10), cell.initial_state(4))  # y: (4, 256)

    Notes:
        Departs from the paper: Wisdom et al. keep :math:`W` itself as the parameter and
        update it by Riemannian gradient descent on the Stiefel manifold with a Cayley
        retraction. Here :math:`W` is parametrised by the exponential map of a
        skew-Hermitian matrix: the same manifold (exp is onto U(N)), reached by a
        parametrisation instead of a retraction, so any standard optimiser (Adam, RMSprop)
        works and the manifold parameters can take their own learning rate.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        N = hidden_size
        self.input_size = input_size
        self.hidden_size = N
        self.output_size = 2 * N
        S = random_skew_hermitian(N)
        dtype = torch.get_default_dtype()
        self.A_re = nn.Parameter(S.real.to(dtype))  # strict upper triangle used
        self.A_im = nn.Parameter(S.imag.to(dtype))  # upper triangle (with diagonal) used
        bound = math.sqrt(6.0 / (input_size + 2 * N))
        self.weight_ih_re = nn.Parameter(torch.empty(N, input_size).uniform_(-bound, bound))
        self.weight_ih_im = nn.Parameter(torch.empty(N, input_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(N))  # modReLU b

    def manifold_parameters(self) -> list[nn.Parameter]:
        return [self.A_re, self.A_im]

    def _derive(self) -> Tensor:
        # W = exp(S), S skew-Hermitian
        return torch.linalg.matrix_exp(skew_hermitian(self.A_re, self.A_im))

    def recurrence_matrix(self) -> Tensor:
        """The unitary ``W`` (N, N), complex."""
        return self._derived()

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> FullURNNState:
        z = self._zeros(batch, device, dtype)
        return FullURNNState(z, z.clone())

    def project_input(self, x: Tensor) -> Tensor:
        # [Re V x_t, Im V x_t]: (..., 2N)
        return x @ torch.cat([self.weight_ih_re, self.weight_ih_im]).mT

    def step(self, p_t: Tensor, state: FullURNNState) -> tuple[Tensor, FullURNNState]:
        N = self.hidden_size
        W = self._derived()
        h = torch.complex(state.h_re, state.h_im)
        # h_t = modReLU(W h_{t-1} + V x_t), rows: h W^T
        z = h @ W.mT + torch.complex(p_t[:, :N], p_t[:, N:])
        h = complex_modrelu(z, self.bias)
        h_re, h_im = h.real, h.imag
        return torch.cat([h_re, h_im], dim=-1), FullURNNState(h_re, h_im)
