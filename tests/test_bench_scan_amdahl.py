"""The Amdahl bound of a scan cell (``rnnlab.bench.scan.amdahl_bound``): its parts are
timed and the real scan kernel is back in place afterwards."""

from __future__ import annotations

import pytest
import torch

from rnnlab.bench.scan import _no_kernel, amdahl_bound
from rnnlab.cells import scan_cell
from rnnlab.cells.linear_scan import linear_scan


@pytest.mark.parametrize("cell", ["mingru", "lru"])
def test_amdahl_bound_times_each_part_and_restores_the_kernel(cell: str) -> None:
    out = amdahl_bound(cell, 2, 4, 8, repeats=1)
    assert {"scan", "per_token", "projection", "loop", "bound", "ratio"} <= out.keys()
    assert all(v > 0 for v in out.values())
    assert out["bound"] == pytest.approx(out["loop"] / out["per_token"])
    assert scan_cell.linear_scan is linear_scan


def test_no_kernel_reaches_every_input() -> None:
    """The stand-in scan keeps a, b and h0 in the graph (so their backward is timed)."""
    a, b = torch.rand(2, 3, 4, requires_grad=True), torch.rand(2, 3, 4, requires_grad=True)
    h0 = torch.rand(2, 4, requires_grad=True)
    _no_kernel(a, b, h0).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (a, b, h0))
