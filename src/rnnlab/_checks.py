"""One-line argument validators shared by every package (the ground floor: imports no
other part of rnnlab)."""

from __future__ import annotations

import math

import torch


def check_positive(name: str, value: int) -> None:
    """Raise a one-line ``ValueError`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_unit_interval(name: str, value: float, *, closed: bool = False) -> None:
    """Raise a one-line ``ValueError`` unless ``0 <= value < 1`` (``<= 1`` with ``closed``),
    e.g. a dropout rate (``[0, 1)``) or a probability (``[0, 1]``)."""
    if not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")


def check_finite(name: str, value: float, *, minimum: float = 0.0, strict: bool = True) -> None:
    """Raise a one-line ``ValueError`` unless ``value`` is a finite number above ``minimum``
    (``>= minimum`` when not ``strict``): a learning rate, a clipping norm, a weight."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and (value > minimum if strict else value >= minimum)):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def check_device(device: object, *, available: bool = True) -> torch.device:
    """The ``torch.device`` named ``device``, or a one-line ``ValueError`` naming it; with
    ``available`` also for a CUDA device on a machine without one (a config recorded on a
    GPU machine still loads elsewhere when ``available`` is off)."""
    try:
        parsed = torch.device(device)  # type: ignore[call-overload]
    except (RuntimeError, TypeError):
        raise ValueError(
            f"unknown device {device!r}; expected cpu, cuda, cuda:1, mps, ..."
        ) from None
    if available and parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return parsed
