"""Orthogonal RNN by the exponential map, expRNN (Lezcano-Casado & Martinez-Rubio 2019)."""

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


class ExpRNNState(NamedTuple):
    h: Tensor  # (B, H)


class ExpRNNCell(CachedRecurrenceCell[Tensor]):
    r"""Orthogonal RNN whose recurrent matrix is the exponential of a skew-symmetric matrix.

    .. math::
        \begin{aligned}
        W &= \exp(A - A^\top), \quad A \text{ strictly upper triangular} \\
        h_t &= \sigma_b(W h_{t-1} + U x_t), \qquad y_t = h_t \\
        \sigma_b(z) &= \mathrm{sign}(z)\, \mathrm{relu}(|z| + b) \quad \text{(modReLU)}
        \end{aligned}

    Every :math:`A` gives an orthogonal :math:`W` (in SO(H)), so a plain optimiser on
    :math:`A` stays on the manifold; :meth:`manifold_parameters` returns ``[A]`` for its own,
    usually smaller, learning rate (the paper's copy task: 2e-4, orthogonal 2e-5).
    :math:`W` is computed by ``torch.linalg.matrix_exp`` once per unroll (inside
    :meth:`unrolling`) and on every call outside one. Cost: :math:`O(H^3)` per unroll for
    the exponential and its backward, :math:`O(B H^2)` per step.

    Initialisation as in the paper's code: ``A`` block-diagonal with 2x2 blocks
    :math:`[[0, s], [-s, 0]]`, so :math:`W` is block-diagonal with rotations by :math:`s`
    and eigenvalues :math:`e^{\pm i s}`; ``init="henaff"`` draws :math:`s \sim U(-\pi, \pi)`,
    ``init="cayley"`` draws :math:`s = -\tan(t/2)`, :math:`t \sim U(0, \pi/2)` (so
    :math:`|s| < 1`); ``U`` Kaiming normal, :math:`b \sim U(-0.01, 0.01)`.

    Args:
        input_size: D.
        hidden_size: H.
        init: ``"henaff"`` or ``"cayley"``, the initial skew-symmetric matrix.

    Shapes: ``x_t (B, D)``, ``state.h (B, H)`` -> ``y_t (B, H)``.

    Example::

        cell = ExpRNNCell(10, 190)
        y, s = cell(torch.randn(4, 10), cell.initial_state(4))

    Notes:
        The paper also has a "dynamic trivialisation" that periodically moves the base
        point of the exponential (:math:`W = B \exp(A)`); only the static one, with base
        :math:`I`, is here. As in the paper's code, :math:`A` is a full square parameter
        of which only the strict upper triangle is used, and the lower triangle receives
        zero gradient.
    """

    def __init__(self, input_size: int, hidden_size: int, init: str = "henaff") -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_skew_init(init)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.init = init
        self.A = nn.Parameter(block_skew_init(hidden_size, init))  # (H, H)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # U: (H, D)
        self.bias = nn.Parameter(torch.empty(hidden_size))  # modReLU b: (H,)
        nn.init.kaiming_normal_(self.weight_ih, nonlinearity="relu")
        nn.init.uniform_(self.bias, -0.01, 0.01)

    def manifold_parameters(self) -> list[nn.Parameter]:
        return [self.A]

    def _derive(self) -> Tensor:
        # W = exp(A - A^T)
        return torch.linalg.matrix_exp(skew_symmetric(self.A))

    def recurrence_matrix(self) -> Tensor:
        """The orthogonal ``W`` of ``h_t = modReLU(W h_{t-1} + U x_t)``, ``(H, H)``."""
        return self._derived()

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> ExpRNNState:
        return ExpRNNState(self._zeros(batch, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        return x @ self.weight_ih.mT  # U x_t: (..., H)

    def step(self, p_t: Tensor, state: ExpRNNState) -> tuple[Tensor, ExpRNNState]:
        W = self._derived()
        # h_t = modReLU(W h_{t-1} + U x_t), rows: h W^T
        h = modrelu(torch.addmm(p_t, state.h, W.mT), self.bias)
        return h, ExpRNNState(h)
