r"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): the GRU and the
LSTM with gates that read the input only, so a whole sequence is one linear scan."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import check_chrono
from rnnlab.cells.linear_scan import METHODS
from rnnlab.cells.scan_cell import LinearScanCell


def g(x: Tensor) -> Tensor:
    r"""The papers' positive candidate activation: :math:`x + 0.5` for :math:`x \ge 0`,
    :math:`\sigma(x)` below (continuous at 0, always positive)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    r""":math:`\log g(x)`: :math:`\log(x + 0.5)` for :math:`x \ge 0`, :math:`-\mathrm{softplus}(-x)`
    below (computed without forming :math:`g`)."""
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def _check_method(scan_method: str) -> None:
    if scan_method != "auto" and scan_method not in METHODS:
        raise ValueError(
            f"scan_method must be auto or one of {', '.join(METHODS)}, got {scan_method!r}"
        )


class _MinimalCell(LinearScanCell):
    """What minGRU and minLSTM share: one affine map of ``x_t`` to ``parts`` blocks of
    pre-activations (gates and candidate), hoisted out of the recurrence."""

    def __init__(
        self, input_size: int, hidden_size: int, parts: int, log_space: bool, scan_method: str
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        _check_method(scan_method)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.log_space = bool(log_space)
        self.scan_method = scan_method
        self.linear = nn.Linear(input_size, parts * hidden_size)

    def project_input(self, x: Tensor) -> Tensor:
        return self.linear(x)

    def affine_input(self) -> tuple[Tensor, Tensor | None]:
        return self.linear.weight, self.linear.bias


class MinGRUCell(_MinimalCell):
    r"""minGRU: the update gate and the candidate read ``x_t`` only.

    .. math::
        \begin{aligned}
        z_t &= \sigma(W_z x_t + b_z), \qquad \tilde h_t = g(W_h x_t + b_h) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t, \qquad y_t = h_t
        \end{aligned}

    with the paper's positive :func:`g`, so ``a = 1 - z`` and ``b = z * g`` are positive
    and the log-space scan applies (``log_space=True``; the default is the plain scan,
    faster and more accurate here). Projection order ``[z, h]``.

    Args:
        input_size: D.
        hidden_size: H.
        log_space: scan in log space (Heinsen 2023), as the paper's code does.
        scan_method: the :func:`~rnnlab.cells.linear_scan.linear_scan` kernel (``auto``).

    Shapes: ``x_t (B, D)``, ``state.h (B, H)`` -> ``y_t (B, H)``.

    Example::

        cell = MinGRUCell(3, 16)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))

    Notes:
        The paper also passes the initial state through ``g``; here it is the caller's,
        any sign (the log-space scan adds ``prod(a) h_0`` outside the logarithm).

    With :meth:`chrono_init_` (Tallec & Ollivier 2018) the gate's bias is
    :math:`b_z = -\log u`, :math:`u \sim U(1, T_{max} - 1)`, so the retention
    :math:`1 - z = \sigma(\log u) = u / (1 + u)` keeps memory for about ``u`` steps.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        log_space: bool = False,
        scan_method: str = "auto",
    ) -> None:
        super().__init__(input_size, hidden_size, 2, log_space, scan_method)  # [z, h~]

    def chrono_init_(self, max_delay: int, generator: torch.Generator | None = None) -> None:
        """Chrono initialisation for dependencies up to ``max_delay`` steps (in place)."""
        check_chrono(max_delay)
        H = self.hidden_size
        bias = self.linear.bias
        with torch.no_grad():
            u = torch.empty(H, dtype=bias.dtype).uniform_(1, max_delay - 1, generator=generator)
            bias[:H].copy_(-torch.log(u))  # gate block: b_z = -log u

    def coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        k, h_pre = p.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        # a = 1 - z = sigma(-k), b = z * g(h~)
        return torch.sigmoid(-k), z * g(h_pre)

    def log_coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        k, h_pre = p.chunk(2, dim=-1)
        # log(1 - z) = -softplus(k), log z = -softplus(-k)
        return -F.softplus(k), -F.softplus(-k) + log_g(h_pre)


class MinLSTMCell(_MinimalCell):
    r"""minLSTM: forget and input gates read ``x_t`` only and are normalised to sum to one.

    .. math::
        \begin{aligned}
        f_t &= \sigma(W_f x_t + b_f), \quad i_t = \sigma(W_i x_t + b_i), \quad
        \tilde h_t = g(W_h x_t + b_h) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t}, \qquad
        h_t = f'_t \odot h_{t-1} + i'_t \odot \tilde h_t, \qquad y_t = h_t
        \end{aligned}

    (the paper's length-independent scaling). In log space
    :math:`\log f' = -\mathrm{softplus}(d)`, :math:`\log i' = -\mathrm{softplus}(-d)` with
    :math:`d = \mathrm{softplus}(-k_f) - \mathrm{softplus}(-k_i)`. Projection order
    ``[f, i, h]``. Arguments, shapes and notes as :class:`MinGRUCell`.

    Example::

        cell = MinLSTMCell(3, 16)
        y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        log_space: bool = False,
        scan_method: str = "auto",
    ) -> None:
        super().__init__(input_size, hidden_size, 3, log_space, scan_method)  # [f, i, h~]

    def coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, h_pre = p.chunk(3, dim=-1)
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        total = f + i
        return f / total, (i / total) * g(h_pre)

    def log_coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, h_pre = p.chunk(3, dim=-1)
        d = F.softplus(-k_f) - F.softplus(-k_i)  # log(i / f)
        return -F.softplus(d), -F.softplus(-d) + log_g(h_pre)
