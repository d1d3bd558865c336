"""Delay connections: the step reads [x_t; y_{t-d_1}; ...]; the history keeps the last outputs.

The generic behaviour (stepwise == unroll, padding, gradcheck, state round trips) is in the
conformance suite, which runs over the registered ``delay`` cell (Elman, delays 2, 4, 8).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

from rnnlab.cells import (
    Cell,
    DelayCell,
    DelayState,
    ElmanCell,
    ExpRNNCell,
    GRUCell,
    LSTMCell,
    cell_entry,
    make_cell,
)
from rnnlab.layers import Recurrent

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def naive(cell: DelayCell, x: Tensor) -> Tensor:
    """Keep every output; feed [x_t, y_{t-d}...] (zeros before the start) to the inner cell."""
    inner: Cell = cell.cell
    B, T, _ = x.shape
    s = inner.initial_state(B, dtype=x.dtype)
    ys: list[Tensor] = []
    zero = x.new_zeros(B, cell.output_size)
    for t in range(T):
        delayed = [ys[t - d] if t - d >= 0 else zero for d in cell.delays]
        y, s = inner(torch.cat([x[:, t], *delayed], dim=-1), s)
        ys.append(y)
    return torch.stack(ys, dim=1)


@pytest.mark.parametrize("factory", [ElmanCell, LSTMCell, GRUCell], ids=["elman", "lstm", "gru"])
def test_equals_naive_reference(factory: type[Cell]) -> None:
    cell = DelayCell.build(factory, 3, 5, delays=(3, 1, 7)).to(F64)
    assert cell.cell.input_size == 3 + 3 * 5 and cell.input_size == 3
    x = torch.randn(2, 12, 3, dtype=F64)
    y, final = Recurrent(cell)(x)
    torch.testing.assert_close(y, naive(cell, x), rtol=0, atol=0)
    # the history holds the last max(delays) outputs, newest first
    assert isinstance(final, DelayState)
    torch.testing.assert_close(final.history, y[:, -7:].flip(1), rtol=0, atol=0)


def test_output_reads_the_delayed_step() -> None:
    """With no recurrent matrix, y_t depends on x_{t-k} only through the delays."""
    cell = DelayCell.build(ElmanCell, 1, 4, delays=(3,)).to(F64)
    with torch.no_grad():
        cell.cell.weight_hh.zero_()  # y_t = tanh(W [x_t; y_{t-3}] + b)
    x = torch.randn(1, 10, 1, dtype=F64, requires_grad=True)
    y, _ = Recurrent(cell)(x)
    (grad,) = torch.autograd.grad(y[0, 9].sum(), x)
    reached = [t for t in range(10) if grad[0, t].abs().sum() > 0]
    assert reached == [0, 3, 6, 9]


def test_gradcheck_lstm_inner_ragged() -> None:
    layer = Recurrent(DelayCell.build(LSTMCell, 2, 3, delays=(1, 2))).to(F64)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    x = torch.randn(2, 4, 2, dtype=F64, requires_grad=True)
    history = torch.randn(2, 2, 3, dtype=F64, requires_grad=True)
    lengths = torch.tensor([4, 2])

    def run(x: Tensor, history: Tensor, *ps: Tensor) -> tuple[Tensor, Tensor]:
        state = DelayState(layer.initial_state(2, dtype=F64).inner, history)
        p = dict(zip(names, ps, strict=True))
        y, final = functional_call(layer, p, (x, state, lengths))
        return y, final.history

    assert torch.autograd.gradcheck(run, (x, history, *params))


def test_wrapper_hooks_and_registry() -> None:
    inner = ExpRNNCell(2 + 2 * 6, 6)
    cell = DelayCell(inner, delays=(2, 5))
    assert cell.manifold_parameters() == [inner.A]
    assert cell.input_size == 2 and cell.output_size == 6
    built = DelayCell.build(cell_entry("gru").build, 2, 6, (4,))
    assert isinstance(built.cell, GRUCell)
    registered = make_cell("delay", 3, 5)
    assert isinstance(registered, DelayCell) and registered.delays == (2, 4, 8)


@pytest.mark.parametrize(
    ("delays", "match"),
    [
        ((), "at least one delay"),
        ((2, 0), "every delay must be a positive integer, got 0"),
        ((2, 2), r"distinct, got \(2, 2\)"),
    ],
)
def test_bad_delays(delays: tuple[int, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DelayCell.build(ElmanCell, 3, 4, delays)


def test_inner_too_small() -> None:
    with pytest.raises(ValueError, match="input_size 8 leaves no room"):
        DelayCell(ElmanCell(8, 4), delays=(1, 2))
