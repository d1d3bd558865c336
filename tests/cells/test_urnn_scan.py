"""The uRNN's whole-sequence scan (a hand-written adjoint backward) against the step loop,
whose gradients come from autograd through the factor-by-factor step, and gradcheck."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

from rnnlab.cells import URNNCell, URNNState, step_loop
from rnnlab.layers import Recurrent

F64 = torch.float64


def _cell(n: int, dtype: torch.dtype, seed: int = 0) -> URNNCell:
    torch.manual_seed(seed)
    cell = URNNCell(3, n).to(dtype)
    with torch.no_grad():
        cell.bias.uniform_(-1.2, 0.4)  # some units switched off (s = 0), others scaled
    return cell


def _run(cell: URNNCell, x: Tensor, state: URNNState, scan: bool) -> list[Tensor]:
    """Outputs, final state and the gradients of a loss touching both, wrt everything."""
    x = x.clone().requires_grad_(True)
    h = [t.clone().requires_grad_(True) for t in state]
    s0 = URNNState(*h)
    if scan:
        y, final = cell.scan(x, s0)
    else:
        y, final, _ = step_loop(cell, x, s0)
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    loss = (y * weights).sum() + final.h_re.square().sum() - 3 * final.h_im.sum()
    grads = torch.autograd.grad(loss, [x, *h, *cell.parameters()])
    return [y.detach(), final.h_re.detach(), final.h_im.detach(), *grads]


@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_scan_equals_autograd_step_loop(dtype: torch.dtype) -> None:
    """float32 runs the 8-byte gather of the permutation, float64 the index_select."""
    cell = _cell(16, dtype)
    x = torch.randn(4, 7, 3, dtype=dtype)
    state = URNNState(0.5 * torch.randn(4, 16, dtype=dtype), 0.5 * torch.randn(4, 16, dtype=dtype))
    got, want = _run(cell, x, state, True), _run(cell, x, state, False)
    assert float(want[0].eq(0).float().mean()) > 0.1  # modReLU switched units off
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, **tol)


def test_scan_at_zero_equals_step_loop() -> None:
    """Zero state and (nearly) zero input: ``|z| < eps``, where modReLU's modulus is
    clamped (its derivative through ``|z|`` is zero there), exactly zero in row 0 and
    ``0 < |z| < eps`` in row 1's first step."""
    cell = _cell(8, F64)
    with torch.no_grad():
        cell.bias.fill_(0.1)
    x = torch.zeros(3, 3, 3, dtype=F64)
    x[1, 0] = 1e-8 * torch.randn(3, dtype=F64)
    x[2] = torch.randn(3, 3, dtype=F64)  # one row away from zero
    state = cell.initial_state(3, dtype=F64)
    got, want = _run(cell, x, state, True), _run(cell, x, state, False)
    for a, e in zip(got, want, strict=True):
        assert bool(torch.isfinite(a).all())
        torch.testing.assert_close(a, e)


def test_gradcheck_scan() -> None:
    layer = Recurrent(_cell(4, F64, seed=3))  # fast: the cell's scan
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    x = torch.randn(2, 3, 3, dtype=F64, requires_grad=True)
    h = [(0.5 * torch.randn(2, 4, dtype=F64)).requires_grad_(True) for _ in range(2)]

    def run(x: Tensor, h_re: Tensor, h_im: Tensor, *ps: Tensor) -> tuple[Tensor, ...]:
        values = dict(zip(names, ps, strict=True))
        y, final = functional_call(layer, values, (x, URNNState(h_re, h_im)))
        return y, *final

    y = run(x, *h, *params)[0]
    assert y.grad_fn is not None and "URNNScan" in y.grad_fn.name()
    assert torch.autograd.gradcheck(run, (x, *h, *params))


def test_ragged_lengths_run_the_step_loop() -> None:
    cell = _cell(4, F64)
    x = torch.randn(2, 3, 3, dtype=F64, requires_grad=True)
    state = cell.initial_state(2, dtype=F64)
    y, _ = cell.scan(x, state, torch.tensor([3, 2]))
    assert y.grad_fn is not None and "URNNScan" not in y.grad_fn.name()
    y_full, _ = cell.scan(x, state, torch.tensor([3, 3]))
    assert y_full.grad_fn is not None and "URNNScan" in y_full.grad_fn.name()


def test_scan_without_gradients_equals_step_loop() -> None:
    cell = _cell(8, F64)
    x = torch.randn(3, 5, 3, dtype=F64)
    state = URNNState(torch.randn(3, 8, dtype=F64), torch.randn(3, 8, dtype=F64))
    with torch.no_grad():
        y, final = cell.scan(x, state)
        y_ref, final_ref, _ = step_loop(cell, x, state)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(torch.stack(list(final)), torch.stack(list(final_ref)))
