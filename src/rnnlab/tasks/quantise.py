r"""Uniform quantisation of real signals into tokens, so a language model can generate them.

With ``L`` levels over ``[low, high]`` and width :math:`w = (\mathrm{high} - \mathrm{low}) / L`:

.. math::
    k(v) = \mathrm{clip}\big(\lfloor (v - \mathrm{low}) / w \rfloor,\ 0,\ L - 1\big), \qquad
    \hat v(k) = \mathrm{low} + (k + \tfrac12)\, w

so :math:`|\hat v(k(v)) - v| \le w / 2` for every :math:`v \in [\mathrm{low}, \mathrm{high}]`;
values outside the range go to the end levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_positive


@dataclass(frozen=True)
class UniformQuantiser:
    """``levels`` equal bins over ``[low, high]``; token ``k`` stands for the bin's centre.

    Example::

        q = UniformQuantiser(-4.0, 4.0, 32)
        tokens = q.quantise(signal)  # (B, T) long in [0, 32)
        values = q.dequantise(tokens)  # within q.width / 2 of signal inside the range
    """

    low: float
    high: float
    levels: int

    def __post_init__(self) -> None:
        check_positive("levels", self.levels)
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"need finite low < high, got low={self.low}, high={self.high}")

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.levels

    def quantise(self, values: Tensor) -> Tensor:
        """Real ``values`` (any shape) -> long tokens in ``[0, levels)``."""
        values = torch.as_tensor(values)
        if not values.dtype.is_floating_point:
            values = values.double()
        if not bool(torch.isfinite(values).all()):
            raise ValueError("cannot quantise NaN or infinite values")
        k = torch.floor((values.double() - self.low) / self.width)
        return k.clamp(0, self.levels - 1).long()

    def dequantise(self, tokens: Tensor) -> Tensor:
        """Tokens (any shape) -> the centres of their levels, float32."""
        tokens = torch.as_tensor(tokens)
        if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise ValueError(f"tokens must be integer level ids, got dtype {tokens.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.levels):
            raise ValueError(
                f"tokens must lie in [0, {self.levels}), got [{int(tokens.min())}, "
                f"{int(tokens.max())}]"
            )
        return (self.low + (tokens.double() + 0.5) * self.width).float()

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "levels": self.levels}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UniformQuantiser:
        try:
            return cls(float(data["low"]), float(data["high"]), int(data["levels"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"invalid quantiser record: {exc}") from None
