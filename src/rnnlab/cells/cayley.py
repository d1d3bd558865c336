"""Orthogonal RNN by the scaled Cayley transform, scoRNN (Helfrich, Willmott & Ye 2018)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.constrained import (
    CachedRecurrenceCell,
    block_skew_init,
    check_skew_init,
    modrelu,
    skew_symmetric,
)


class CayleyState(NamedTuple):
    h: Tensor  # (B, H)


class CayleyCell(CachedRecurrenceCell[Tensor]):
    r"""Orthogonal RNN whose recurrent matrix is a scaled Cayley transform (scoRNN).

    .. math::
        \begin{aligned}
        W &= (I + S)^{-1} (I - S)\, D, \qquad S = A - A^\top,\ A \text{ strictly upper
             triangular} \\
        h_t &= \sigma_b(W h_{t-1} + U x_t), \qquad y_t = h_t \\
        \sigma_b(z) &= \mathrm{sign}(z)\, \mathrm{relu}(|z| + b) \quad \text{(modReLU)}
        \end{aligned}

    :math:`D` is a fixed diagonal of :math:`\pm 1` (a buffer) with ``num_negative`` entries
    :math:`-1`, placed last as in the scoRNN code. The Cayley transform of a skew-symmetric
    matrix is orthogonal with determinant 1 and never has the eigenvalue :math:`-1`; the
    scaling by :math:`D` reaches orthogonal matrices with :math:`-1` eigenvalues too
    (:math:`\det W = (-1)^{\rho}`). :math:`W` is computed with ``torch.linalg.solve`` once
    per unroll (inside :meth:`unrolling`) and on every call outside one: :math:`O(H^3)` per
    unroll, :math:`O(B H^2)` per step.

    Initialisation as in the scoRNN code: ``A`` block-diagonal with 2x2 blocks
    :math:`[[0, s], [-s, 0]]`, ``init="cayley"``: :math:`s = -\tan(t/2)`,
    :math:`t \sim U(0, \pi/2)`, so :math:`(I + S)^{-1}(I - S)` rotates each plane by
    :math:`t` (eigenvalues :math:`e^{\pm i t}`); ``init="henaff"``: :math:`s \sim U(-\pi,
    \pi)`. :math:`U \sim U(-0.01, 0.01)`, :math:`b = 0`.

    Args:
        input_size: D.
        hidden_size: H.
        num_negative: :math:`\rho`, the number of :math:`-1` entries of ``D``; default
            ``H // 2`` (the scoRNN copy-task setting, 95 of 190).
        init: ``"cayley"`` or ``"henaff"``.

    Shapes: ``x_t (B, D)``, ``state.h (B, H)`` -> ``y_t (B, H)``.

    Example::

        cell = CayleyCell(10, 190)
        y, s = cell(torch.randn(4, 10), cell.initial_state(4))

    Notes:
        scoRNN updates ``A`` with the gradient of the loss through the Cayley transform,
        derived in closed form, and keeps a separately stored ``W``; here the same
        gradient comes from autograd through ``torch.linalg.solve``, with ``A``'s strict
        upper triangle as the free parameters (the lower triangle receives zero gradient).
        :math:`\rho` is a hyperparameter in the paper (tuned per task); here it is a
        constructor argument.
    """

    D: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_negative: int | None = None,
        init: str = "cayley",
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_skew_init(init)
        rho = hidden_size // 2 if num_negative is None else num_negative
        if isinstance(rho, bool) or not isinstance(rho, int) or not 0 <= rho <= hidden_size:
            raise ValueError(
                f"num_negative must be an integer in [0, {hidden_size}], got {num_negative!r}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.num_negative = rho
        self.init = init
        self.A = nn.Parameter(block_skew_init(hidden_size, init))  # (H, H)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # U: (H, D)
        self.bias = nn.Parameter(torch.zeros(hidden_size))  # modReLU b: (H,)
        nn.init.uniform_(self.weight_ih, -0.01, 0.01)
        d = torch.ones(hidden_size)
        d[hidden_size - rho :] = -1.0
        self.register_buffer("D", d)  # (H,) diagonal of +-1

    def manifold_parameters(self) -> list[nn.Parameter]:
        return [self.A]

    def _derive(self) -> Tensor:
        S = skew_symmetric(self.A)
        eye = torch.eye(self.hidden_size, dtype=S.dtype, device=S.device)
        # W = (I + S)^{-1} (I - S) D: D scales the columns
        return torch.linalg.solve(eye + S, eye - S) * self.D

    def recurrence_matrix(self) -> Tensor:
        """The orthogonal ``W`` of ``h_t = modReLU(W h_{t-1} + U x_t)``, ``(H, H)``."""
        return self._derived()

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> CayleyState:
        return CayleyState(self._zeros(batch, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        return x @ self.weight_ih.mT  # U x_t: (..., H)

    def step(self, p_t: Tensor, state: CayleyState) -> tuple[Tensor, CayleyState]:
        W = self._derived()
        # h_t = modReLU(W h_{t-1} + U x_t), rows: h W^T
        h = modrelu(torch.addmm(p_t, state.h, W.mT), self.bias)
        return h, CayleyState(h)
