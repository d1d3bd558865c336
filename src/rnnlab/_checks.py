"""One-line argument validators shared by every package (the ground floor: imports no
other part of rnnlab)."""

from __future__ import annotations


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
