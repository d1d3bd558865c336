"""The shared one-line validators of :mod:`rnnlab._checks`."""

from __future__ import annotations

import pytest

from rnnlab._checks import check_positive, check_unit_interval


@pytest.mark.parametrize("value", [1, 7])
def test_check_positive_accepts_positive_integers(value: int) -> None:
    check_positive("n", value)


@pytest.mark.parametrize("value", [0, -1, 2.0, True, None, "3"])
def test_check_positive_rejects_the_rest(value: object) -> None:
    with pytest.raises(ValueError, match=f"n must be a positive integer, got {value!r}"):
        check_positive("n", value)  # type: ignore[arg-type]


def test_check_unit_interval_open_and_closed() -> None:
    check_unit_interval("p", 0.0)
    check_unit_interval("p", 0.5)
    check_unit_interval("p", 1.0, closed=True)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\), got 1.0"):
        check_unit_interval("p", 1.0)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got -0.1"):
        check_unit_interval("p", -0.1, closed=True)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got nan"):
        check_unit_interval("p", float("nan"), closed=True)
