r"""A cheap, deterministic time-series classifier: ROCKET features and a closed-form ridge.

ROCKET (Dempster, Petitjean & Webb 2020) convolves a series with many random kernels and
keeps two numbers per kernel, the proportion of positive values and the maximum:

.. math::
    z_k = (x * w_k)_{d_k} + b_k, \qquad
    \phi_k(x) = \big(\tfrac{1}{T}\textstyle\sum_t \mathbb{1}[z_{k,t} > 0],\ \max_t z_{k,t}\big)

with :math:`w_k \sim \mathcal N(0, I)` (mean removed), :math:`b_k \sim U(-1, 1)` and
dilation :math:`d_k = \lfloor 2^{u} \rfloor`, :math:`u \sim U(0, \log_2 \frac{T-1}{\ell-1})`.
A ridge regression onto one-hot labels, solved in closed form on standardised features,

.. math::
    W = (\Phi^\top \Phi + \lambda I)^{-1} \Phi^\top (Y - \bar Y), \qquad
    \hat y(x) = \arg\max_c\, (\phi(x) W + \bar Y)_c

classifies. Everything is seeded, so the classifier is a fixed function of its training
data. The convolutions run in float32 (PyTorch's fast kernels; float64 ones are several
times slower on CPU), the ridge in float64. rnnlab uses it to check generated signals
(the class fidelity of vec->seq generators).

Notes:
    Simplified from the paper: one kernel length (``kernel_length``, 9 by default) instead
    of {7, 9, 11}, padding always applied, and a fixed ``ridge`` instead of
    cross-validating it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import check_positive

F64 = torch.float64


class RocketClassifier:
    """ROCKET features + ridge classifier; :meth:`fit` then :meth:`predict`.

    Args:
        num_kernels: random kernels (2 features each).
        kernel_length: taps per kernel.
        ridge: the ridge penalty :math:`\\lambda` on standardised features.
        seed: fixes the kernels.

    Example::

        clf = RocketClassifier().fit(x_train, y_train, 10)  # x (N, T) float, y (N,) long
        accuracy = (clf.predict(x_test) == y_test).float().mean()
    """

    def __init__(
        self, num_kernels: int = 500, kernel_length: int = 9, ridge: float = 100.0, seed: int = 0
    ) -> None:
        check_positive("num_kernels", num_kernels)
        check_positive("kernel_length", kernel_length)
        if not ridge > 0:
            raise ValueError(f"ridge must be positive, got {ridge!r}")
        self.num_kernels = num_kernels
        self.kernel_length = kernel_length
        self.ridge = ridge
        self.seed = seed
        self._fitted = False

    def _make_kernels(self, T: int) -> None:
        g = torch.Generator().manual_seed(self.seed)
        K, ell = self.num_kernels, self.kernel_length
        w = torch.randn(K, 1, ell, generator=g, dtype=F64)
        self.weights = w - w.mean(-1, keepdim=True)  # (K, 1, ell)
        self.biases = torch.rand(K, generator=g, dtype=F64) * 2 - 1  # (K,)
        top = math.log2((T - 1) / (ell - 1)) if ell < T else 0.0
        u = torch.rand(K, generator=g, dtype=F64) * top
        self.dilations = torch.floor(2**u).long()  # (K,)

    def features(self, x: Tensor) -> Tensor:
        """``x (N, T)`` -> ``(N, 2K)`` float64: per kernel, PPV then max."""
        if not self._fitted:
            raise ValueError("the classifier is not fitted: call fit first")
        x = self._check_series(x).float()  # float32 convolutions: PyTorch's fast kernels
        ppv = torch.empty(x.shape[0], self.num_kernels, dtype=F64)
        peak = torch.empty_like(ppv)
        for d in self.dilations.unique().tolist():
            idx = (self.dilations == d).nonzero().squeeze(1)  # kernels with dilation d
            pad = (self.kernel_length - 1) * d // 2
            w, b = self.weights[idx].float(), self.biases[idx].float()
            z = F.conv1d(x.unsqueeze(1), w, b, dilation=d, padding=pad)  # (N, K_d, T')
            ppv[:, idx] = torch.count_nonzero(z > 0, dim=-1).to(F64) / z.shape[-1]
            peak[:, idx] = z.amax(-1).to(F64)
        return torch.cat([ppv, peak], 1)

    def fit(self, x: Tensor, y: Tensor, num_classes: int) -> RocketClassifier:
        """Fit on series ``x (N, T)`` with labels ``y (N,)`` in ``[0, num_classes)``."""
        check_positive("num_classes", num_classes)
        x = self._check_series(x)
        y = torch.as_tensor(y).long()
        if y.shape != (x.shape[0],) or int(y.min()) < 0 or int(y.max()) >= num_classes:
            raise ValueError(f"y must be ({x.shape[0]},) labels in [0, {num_classes})")
        self._make_kernels(x.shape[1])
        self._fitted = True
        phi = self.features(x)  # (N, 2K)
        self.mean = phi.mean(0)
        self.scale = phi.std(0).clamp(min=1e-8)
        phi = (phi - self.mean) / self.scale
        Y = F.one_hot(y, num_classes).to(F64)  # (N, C)
        self.prior = Y.mean(0)  # (C,): the intercept
        gram = phi.T @ phi + self.ridge * torch.eye(phi.shape[1], dtype=F64)
        self.coef = torch.linalg.solve(gram, phi.T @ (Y - self.prior))  # (2K, C)
        return self

    def scores(self, x: Tensor) -> Tensor:
        """``(N, C)`` ridge outputs; their argmax is the predicted class."""
        phi = (self.features(x) - self.mean) / self.scale
        return phi @ self.coef + self.prior

    def predict(self, x: Tensor) -> Tensor:
        """``x (N, T)`` -> predicted classes ``(N,)`` long."""
        return self.scores(x).argmax(-1)

    @staticmethod
    def _check_series(x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        if x.dim() != 2 or x.shape[1] < 2:
            raise ValueError(f"series must have shape (N, T) with T >= 2, got {tuple(x.shape)}")
        return x.to(F64)
