"""``Cell.scan`` of the cells with a fused kernel: the kernel runs for the plain Elman, LSTM
and GRU cells only, equals the step loop, and ``Recurrent(fast=False)`` never calls it.

The kernel calls are observed by wrapping ``torch._VF.lstm/gru/rnn_tanh/rnn_relu``, the
functions ``torch.nn.LSTM/GRU/RNN`` dispatch to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from rnnlab.cells import (
    Cell,
    ElmanCell,
    GRUCell,
    LSTMCell,
    LSTMState,
    cell_names,
    make_cell,
    step_loop,
)
from rnnlab.cells.fused_layout import FusedLayoutCell
from rnnlab.layers import Bidirectional, Recurrent

B, T, D, H = 4, 7, 3, 5
LENGTHS = [5, 7, 1, 3]  # unsorted, with a full row and a one-step row
F64 = torch.float64
KERNELS = ("lstm", "gru", "rnn_tanh", "rnn_relu")

PLAIN: dict[str, Callable[[], FusedLayoutCell]] = {
    "lstm": lambda: LSTMCell(D, H),
    "gru": lambda: GRUCell(D, H),
    "rnn_tanh": lambda: ElmanCell(D, H, nonlinearity="tanh"),
    "rnn_relu": lambda: ElmanCell(D, H, nonlinearity="relu"),
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the fused kernels called while the test runs, in order."""
    calls: list[str] = []
    for name in KERNELS:
        original = getattr(torch._VF, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(torch._VF, name, spy)
    return calls


def plain(kind: str) -> FusedLayoutCell:
    cell = PLAIN[kind]().to(F64)
    with torch.no_grad():
        for p in cell.parameters():  # the LSTM's zero biases would hide bias mistakes
            p.uniform_(-0.5, 0.5)
    return cell


def run_with_grads(
    run: Callable[[Tensor, Any], tuple[Tensor, Any]], cell: Cell, x: Tensor, state: Any
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Outputs, final state tensors and gradients wrt the input, initial state, parameters."""
    x = x.clone().requires_grad_(True)
    s0 = [t.clone().requires_grad_(True) for t in state]
    y, final = run(x, type(state)(*s0))
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    loss = (y * w).sum() + sum((t * t).sum() for t in final)
    grads = torch.autograd.grad(loss, [x, *s0, *cell.parameters()])
    return y.detach(), [t.detach() for t in final], list(grads)


def random_state(cell: Cell) -> Any:
    init = cell.initial_state(B, dtype=F64)
    return type(init)(*(0.5 * torch.randn_like(t) for t in init))


@pytest.mark.parametrize("ragged", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("kind", list(PLAIN))
def test_fused_scan_equals_step_loop(kind: str, ragged: bool, kernel_calls: list[str]) -> None:
    cell = plain(kind)
    assert cell.uses_fused_kernel
    x, state = torch.randn(B, T, D, dtype=F64), random_state(cell)
    lengths = torch.tensor(LENGTHS) if ragged else None
    if lengths is not None:  # NaN padding must reach neither outputs nor gradients
        pad = torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)
        x = x.masked_fill(pad.unsqueeze(-1), float("nan"))

    y, final, grads = run_with_grads(lambda x, s: cell.scan(x, s, lengths), cell, x, state)
    assert kernel_calls == [kind]
    y_ref, final_ref, grads_ref = run_with_grads(
        lambda x, s: step_loop(cell, x, s, lengths)[:2], cell, x, state
    )
    assert kernel_calls == [kind], "the step loop must not call the kernel"

    torch.testing.assert_close(y, y_ref)
    for a, e in zip(final, final_ref, strict=True):
        torch.testing.assert_close(a, e)
    for a, e in zip(grads, grads_ref, strict=True):
        assert not a.isnan().any()
        torch.testing.assert_close(a, e)


@pytest.mark.parametrize("kind", list(PLAIN))
def test_recurrent_fast_false_never_calls_the_kernel(kind: str, kernel_calls: list[str]) -> None:
    cell = plain(kind)
    x = torch.randn(B, T, D, dtype=F64)
    for lengths in (None, torch.tensor(LENGTHS)):
        loop = Recurrent(cell, fast=False)
        assert not loop.uses_fused_kernel
        y, _ = loop(x, None, lengths)
        y.sum().backward()
        Bidirectional(plain(kind), plain(kind), fast=False)(x, None, lengths)
        assert kernel_calls == []
        fast = Recurrent(cell, fast=True)
        assert fast.uses_fused_kernel
        torch.testing.assert_close(fast(x, None, lengths)[0], y)
        assert kernel_calls == [kind]
        kernel_calls.clear()


class _SubclassedLSTM(LSTMCell):
    """An LSTM subclass that changes nothing: still not the exact class."""


class _LeakyLSTM(LSTMCell):
    """An LSTM whose step halves the output: the fused kernel would compute something else."""

    def step(self, p_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, s = super().step(p_t, state)
        return 0.5 * h, LSTMState(0.5 * s.h, s.c)


def test_subclass_does_not_take_the_fused_path(kernel_calls: list[str]) -> None:
    base = plain("lstm")
    x, state = torch.randn(B, T, D, dtype=F64), random_state(base)
    lengths = torch.tensor(LENGTHS)
    for cls in (_SubclassedLSTM, _LeakyLSTM):
        cell = cls(D, H).to(F64)
        cell.load_state_dict(base.state_dict())
        assert cell.fused_mode == "LSTM" and not cell.uses_fused_kernel
        assert not Recurrent(cell, fast=True).uses_fused_kernel
        for lens in (None, lengths):
            y, final = cell.scan(x, state, lens)
            y_ref, final_ref, _ = step_loop(cell, x, state, lens)
            torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
            torch.testing.assert_close(final.c, final_ref.c, rtol=0, atol=0)
    assert kernel_calls == []
    # the leaky step really differs from the kernel's
    assert not torch.allclose(cell.scan(x, state)[0], base.scan(x, state)[0])
    assert kernel_calls == ["lstm"]


FUSED_NAMES = {"elman", "elman_relu", "lstm", "gru"}


@pytest.mark.parametrize("name", [n for n in cell_names() if n not in FUSED_NAMES])
def test_other_registered_cells_never_call_the_kernel(name: str, kernel_calls: list[str]) -> None:
    """Wrappers (zoneout, variational dropout), layer norm, multiplicative integration and
    every other cell: their scan is a step loop, even around or derived from a plain cell."""
    cell = make_cell(name, D, H).to(F64)
    assert not cell.uses_fused_kernel
    x = torch.randn(B, T, D, dtype=F64)
    for lengths in (None, torch.tensor(LENGTHS)):
        Recurrent(cell, fast=True)(x, None, lengths)
    assert kernel_calls == []


@pytest.mark.parametrize("name", sorted(FUSED_NAMES))
def test_registered_plain_cells_use_the_kernel(name: str) -> None:
    assert make_cell(name, D, H).uses_fused_kernel
