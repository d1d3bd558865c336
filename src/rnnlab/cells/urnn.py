"""Restricted-capacity unitary RNN, uRNN (Arjovsky, Shah & Bengio 2016)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import step_mask
from rnnlab.cells.constrained import CachedRecurrenceCell, modrelu_scale
from rnnlab.cells.urnn_scan import urnn_scan


class URNNState(NamedTuple):
    h_re: Tensor  # (B, N) real part of the complex state
    h_im: Tensor  # (B, N) imaginary part


class URNNFactors(NamedTuple):
    """The complex factors of ``W`` derived from the real parameters (cached per unroll)."""

    d1: Tensor  # (N,) exp(i theta_1)
    d2: Tensor  # (N,) exp(i theta_2)
    d3: Tensor  # (N,) exp(i theta_3)
    u1: Tensor  # (N,) v_1 / ||v_1||
    u2: Tensor  # (N,) v_2 / ||v_2||


def reflect(z: Tensor, u: Tensor) -> Tensor:
    """``(I - 2 u u^H) z`` for each row of ``z (B, N)``, ``u`` a unit vector: O(N) a row."""
    # z - 2 (u^H z) u, one fused rank-one update for the batch
    return torch.addr(z, z @ u.conj(), u, alpha=-2.0)


class URNNCell(CachedRecurrenceCell[URNNFactors]):
    r"""Unitary RNN with a structured recurrent matrix: O(N log N) per step.

    .. math::
        \begin{aligned}
        W &= D_3 R_2 F^{-1} D_2 \Pi R_1 F D_1 \\
        h_t &= \sigma_b(W h_{t-1} + V x_t), \qquad y_t = [\mathrm{Re}\, h_t,
              \mathrm{Im}\, h_t] \\
        \sigma_b(z) &= \mathrm{relu}(|z| + b)\, z / |z| \quad \text{(modReLU)}
        \end{aligned}

    with :math:`h_t \in \mathbb{C}^N`; :math:`D_k = \mathrm{diag}(e^{i\theta_k})` phase
    matrices, :math:`R_k = I - 2 v_k v_k^H / \lVert v_k \rVert^2` complex Householder
    reflections, :math:`\Pi` a fixed permutation, :math:`F` the unitary DFT
    (``torch.fft.fft(..., norm="ortho")``) and :math:`V \in \mathbb{C}^{N \times D}`. Every
    factor is unitary for every value of the real parameters :math:`\theta_k, v_k`, so plain
    gradient steps keep :math:`W` unitary; :meth:`manifold_parameters` returns them.

    The step applies the factors as operations (elementwise phases, FFTs, reflections by an
    inner product, a gather), never forming :math:`W`: :math:`O(B N \log N)` per step. The
    phases and unit reflection vectors are computed once per unroll (inside
    :meth:`unrolling`). :meth:`recurrence_matrix` builds the dense :math:`W` from dense
    factors, for tests and diagnostics.

    :meth:`scan` (the unroll of :class:`~rnnlab.layers.Recurrent`) runs the same step over
    the whole sequence in :class:`~rnnlab.cells.urnn_scan.URNNScan`: no graph is recorded
    per step, the backward is a hand-written loop of adjoints (:math:`W^H = \bar D_1 F^H
    R_1 \Pi^T \bar D_2 F R_2 \bar D_3`), and the FFTs' scalings are folded into
    :math:`D_2`; outputs and gradients equal the step loop's.

    All parameters are real (``theta``, ``reflection_re/_im``, ``weight_ih_re/_im``,
    ``bias``); computations are complex (complex128 when the parameters are float64). The
    state holds real and imaginary parts as two real tensors; :meth:`project_input` gives
    :math:`V x_t` interleaved (``[Re, Im]`` of each unit, a complex tensor as a view).

    Initialisation as in the paper: :math:`\theta \sim U(-\pi, \pi)`,
    :math:`v \sim U(-1, 1)` (real and imaginary parts), ``V`` Glorot uniform for a map
    from D to 2N real units, :math:`b = 0`; :math:`\Pi` drawn from its own generator seeded
    with ``permutation_seed`` (from the global RNG if ``None``) and kept as a buffer.

    Args:
        input_size: D.
        hidden_size: N, complex units (the output has 2N real features).
        permutation_seed: seed of the permutation :math:`\Pi`, or ``None``.

    Shapes: ``x_t (B, D)``, ``state = URNNState(h_re (B, N), h_im (B, N))`` ->
    ``y_t (B, 2N)``.

    Example::

        cell = URNNCell(10, 128)
        y, s = cell(torch.randn(4, 10), cell.initial_state(4))  # y: (4, 256)

    Notes:
        The paper's code draws :math:`\theta`, :math:`v` and ``V`` Glorot-uniform, the
        modReLU bias from :math:`U(-0.01, 0.01)` and learns the initial state :math:`h_0`;
        here the initialisation follows the paper's text and :math:`h_0` is the state
        passed in (zeros by default). The division by :math:`|z|` in modReLU uses
        :math:`\max(|z|, 10^{-5})` (the code adds :math:`10^{-5}`).
    """

    perm: Tensor

    def __init__(self, input_size: int, hidden_size: int, permutation_seed: int | None = 0) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        N = hidden_size
        self.input_size = input_size
        self.hidden_size = N
        self.output_size = 2 * N
        self.theta = nn.Parameter(torch.empty(3, N).uniform_(-math.pi, math.pi))
        self.reflection_re = nn.Parameter(torch.empty(2, N).uniform_(-1.0, 1.0))
        self.reflection_im = nn.Parameter(torch.empty(2, N).uniform_(-1.0, 1.0))
        bound = math.sqrt(6.0 / (input_size + 2 * N))
        self.weight_ih_re = nn.Parameter(torch.empty(N, input_size).uniform_(-bound, bound))
        self.weight_ih_im = nn.Parameter(torch.empty(N, input_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(N))  # modReLU b
        gen = None if permutation_seed is None else torch.Generator().manual_seed(permutation_seed)
        self.register_buffer("perm", torch.randperm(N, generator=gen))  # (Pi h)_i = h_perm[i]

    def manifold_parameters(self) -> list[nn.Parameter]:
        return [self.theta, self.reflection_re, self.reflection_im]

    def _derive(self) -> URNNFactors:
        d = torch.complex(torch.cos(self.theta), torch.sin(self.theta))  # (3, N)
        v = torch.complex(self.reflection_re, self.reflection_im)  # (2, N)
        u = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
        return URNNFactors(d[0], d[1], d[2], u[0], u[1])

    def recurrence_matrix(self) -> Tensor:
        """The dense unitary ``W`` (N, N), built from dense factors (tests only: O(N^3))."""
        f = self._derived()
        eye = torch.eye(self.hidden_size, dtype=f.d1.dtype, device=f.d1.device)
        F = torch.fft.fft(eye, dim=0, norm="ortho")  # F[:, j] = fft(e_j)
        F_inv = torch.fft.ifft(eye, dim=0, norm="ortho")
        R1 = eye - 2.0 * torch.outer(f.u1, f.u1.conj())
        R2 = eye - 2.0 * torch.outer(f.u2, f.u2.conj())
        Pi = eye[self.perm]
        return torch.diag(f.d3) @ R2 @ F_inv @ torch.diag(f.d2) @ Pi @ R1 @ F @ torch.diag(f.d1)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> URNNState:
        z = self._zeros(batch, device, dtype)
        return URNNState(z, z.clone())

    def project_input(self, x: Tensor) -> Tensor:
        # V x_t interleaved, [Re, Im] of each unit: (..., 2N), a complex (..., N) as a view
        weight = torch.stack([self.weight_ih_re, self.weight_ih_im], dim=1).flatten(0, 1)
        return x @ weight.mT

    def apply_recurrence(self, h: Tensor) -> Tensor:
        """``W h`` for each row of the complex ``h (B, N)``, factor by factor: O(B N log N)."""
        f = self._derived()
        z = h * f.d1  # D_1
        z = torch.fft.fft(z, norm="ortho")  # F
        z = reflect(z, f.u1)  # R_1
        z = z.index_select(-1, self.perm)  # Pi
        z = z * f.d2  # D_2
        z = torch.fft.ifft(z, norm="ortho")  # F^-1
        z = reflect(z, f.u2)  # R_2
        return z * f.d3  # D_3

    def step(self, p_t: Tensor, state: URNNState) -> tuple[Tensor, URNNState]:
        N = self.hidden_size
        wh = self.apply_recurrence(torch.complex(state.h_re, state.h_im))
        # z = W h_{t-1} + V x_t; h_t = modReLU(z) = s z with a real s
        z = wh + torch.view_as_complex(p_t.unflatten(-1, (N, 2)))
        re, im = z.real, z.imag
        scale = modrelu_scale(re, im, self.bias)  # (B, N)
        y = torch.cat([re, im], dim=-1) * scale.repeat(1, 2)  # [Re h_t, Im h_t]
        return y, URNNState(y[:, :N], y[:, N:])

    def scan(
        self, x: Tensor, state: URNNState, lengths: Tensor | None = None
    ) -> tuple[Tensor, URNNState]:
        """The whole sequence through :class:`~rnnlab.cells.urnn_scan.URNNScan`: the step
        loop without a recorded graph and a hand-written adjoint loop for the backward
        (same outputs and gradients as the step loop). Ragged ``lengths`` run the step
        loop."""
        if step_mask(lengths, x.shape[1], x.device) is not None or x.shape[1] == 0:
            return super().scan(x, state, lengths)
        with self.unrolling():
            f = self._derived()
            d = torch.stack([f.d1, f.d2, f.d3])
            u = torch.stack([f.u1, f.u2])
            h0 = torch.complex(state.h_re, state.h_im)
            y, h = urnn_scan(self.project_input(x), h0, d, u, self.bias, self.perm)
        return y, URNNState(h.real, h.imag)
