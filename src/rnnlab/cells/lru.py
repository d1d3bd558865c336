r"""The linear recurrent unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural
Networks for Long Sequences")."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab._checks import check_finite, check_positive
from rnnlab.cells.minimal import _check_method
from rnnlab.cells.scan_cell import LinearScanCell


class LRUCell(LinearScanCell):
    r"""LRU: a complex diagonal linear recurrence with a real readout.

    .. math::
        \begin{aligned}
        \lambda &= \exp(-\exp(\nu) + i \exp(\theta)), \qquad
        \gamma = \sqrt{1 - |\lambda|^2} \\
        h_t &= \lambda \odot h_{t-1} + \gamma \odot (B x_t), \qquad
        y_t = \operatorname{Re}(C h_t) + D x_t
        \end{aligned}

    with ``N = hidden_size`` complex units, ``B (N, D_in)`` and ``C (H, N)`` complex,
    ``D (H, D_in)`` real, ``H = hidden_size`` output features. Ring initialisation:
    :math:`|\lambda|` uniform on the ring ``[r_min, r_max]`` of the complex plane (so
    :math:`|\lambda|^2 \sim U(r_{min}^2, r_{max}^2)`), phase
    :math:`\arg\lambda \sim U(0, \text{max\_phase})`; ``B`` and ``C`` Glorot-like normal,
    :math:`\gamma` stored as :math:`\log\gamma` and trained (as in the paper's code).

    Args:
        input_size: D_in.
        hidden_size: N complex units and H output features.
        r_min, r_max: the ring of the initial :math:`|\lambda|`, ``0 <= r_min <= r_max < 1``.
        max_phase: largest initial phase, in ``(0, 2 pi]``.
        scan_method: the :func:`~rnnlab.cells.linear_scan.linear_scan` kernel (``auto``).

    Shapes: ``x_t (B, D_in)``, ``state.h (B, N)`` complex -> ``y_t (B, H)`` real.

    Example::

        cell = LRUCell(3, 16, r_min=0.9, r_max=0.999)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))

    Notes:
        The paper's LRU block adds a normalisation, an MLP/GLU and a residual around this
        recurrence; here those are the model's (stacked layers). ``r_max`` must stay below
        1 (``|lambda| = 1`` would need ``nu = -inf``).
    """

    state_dtype_is_complex = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        r_min: float = 0.0,
        r_max: float = 0.99,
        max_phase: float = 2 * math.pi,
        scan_method: str = "auto",
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        _check_method(scan_method)
        check_finite("LRU r_min", r_min, strict=False)
        check_finite("LRU r_max", r_max, strict=False)
        check_finite("LRU max_phase", max_phase)
        if not 0.0 <= r_min <= r_max < 1.0:
            raise ValueError(
                f"LRU needs 0 <= r_min <= r_max < 1, got r_min={r_min!r}, r_max={r_max!r}"
            )
        if not 0.0 < max_phase <= 2 * math.pi:
            raise ValueError(f"LRU max_phase must lie in (0, 2 pi], got {max_phase!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.scan_method = scan_method
        N, D, H = hidden_size, input_size, hidden_size
        u1, u2 = torch.rand(N), torch.rand(N)
        # |lambda|^2 ~ U(r_min^2, r_max^2): nu = log(-log(r)) with r = |lambda|
        nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)
        self.nu_log = nn.Parameter(torch.log(nu))
        self.theta_log = nn.Parameter(torch.log(max_phase * u2))
        modulus = torch.exp(-nu)
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - modulus**2)))
        self.B_re = nn.Parameter(torch.randn(N, D) / math.sqrt(2 * D))
        self.B_im = nn.Parameter(torch.randn(N, D) / math.sqrt(2 * D))
        self.C_re = nn.Parameter(torch.randn(H, N) / math.sqrt(N))
        self.C_im = nn.Parameter(torch.randn(H, N) / math.sqrt(N))
        self.D = nn.Parameter(torch.randn(H, D) / math.sqrt(D))

    def eigenvalues(self) -> Tensor:
        """:math:`\\lambda = \\exp(-\\exp(\\nu) + i \\exp(\\theta))`, ``(N,)`` complex."""
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def _input_weight(self) -> Tensor:
        """``[Re B_1, Im B_1, Re B_2, Im B_2, ..., D]``: ``(2N + H, D_in)``, the real and
        imaginary rows of ``B`` interleaved, so that ``B x`` is a complex view."""
        N, D = self.B_re.shape
        return torch.cat([torch.stack([self.B_re, self.B_im], dim=1).view(2 * N, D), self.D])

    def project_input(self, x: Tensor) -> Tensor:
        # [Re(B x)_1, Im(B x)_1, ..., Re(B x)_N, Im(B x)_N, D x]: (..., 2N + H), real
        return x @ self._input_weight().t()

    def affine_input(self) -> tuple[Tensor, Tensor | None]:
        return self._input_weight(), None

    def coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        bx = _as_complex(p[..., : 2 * self.hidden_size])
        lam = self.eigenvalues()
        # a = lambda (the same every step), b = gamma * (B x)
        return lam.expand_as(bx), torch.exp(self.gamma_log) * bx

    def readout(self, h: Tensor, p: Tensor) -> Tensor:
        # y = Re(C h) + D x = C_re Re(h) - C_im Im(h) + D x
        H, N = self.C_re.shape
        if h.dim() <= 2:  # one step: two small matmuls (no weight to build per step)
            return h.real @ self.C_re.t() - h.imag @ self.C_im.t() + p[..., 2 * N :]
        # all steps: one matmul over the interleaved [Re h_1, Im h_1, ...] (a view of h)
        # with [C_re_1, -C_im_1, ...]
        weight = torch.stack([self.C_re, -self.C_im], dim=2).view(H, 2 * N)
        return torch.addmm(
            p[..., 2 * N :].reshape(-1, H), _as_real(h).reshape(-1, 2 * N), weight.t()
        ).view(*h.shape[:-1], H)


def _as_complex(pairs: Tensor) -> Tensor:
    """``(..., 2N)`` real as ``(..., N)`` complex from interleaved (real, imaginary) pairs:
    a view where the strides allow it, else a copy."""
    z = pairs.unflatten(-1, (-1, 2))
    if z.storage_offset() % 2 == 0 and all(s % 2 == 0 for s in z.stride()[:-1]):
        return torch.view_as_complex(z)
    return torch.complex(z[..., 0], z[..., 1])


def _as_real(h: Tensor) -> Tensor:
    """``(..., N)`` complex as ``(..., 2N)`` real interleaved pairs (a view when ``h`` is
    contiguous in its last dimension)."""
    return torch.view_as_real(h.resolve_conj()).flatten(-2)
