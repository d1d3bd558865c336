"""A stack of plain fused unrolls runs as one multi-layer kernel call, equal to running its
layers one after another (outputs, final states, gradients), and only when it may."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from rnnlab.layers import Stacked, build_layers
from rnnlab.layers.recurrent import Recurrent

KERNELS = {"lstm": "lstm", "gru": "gru", "elman": "rnn_tanh", "elman_relu": "rnn_relu"}


def _count_kernel(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    original: Callable[..., Any] = getattr(torch._VF, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch._VF, name, counted)
    return calls


@pytest.mark.parametrize("cell", list(KERNELS))
@pytest.mark.parametrize("ragged", [False, True])
def test_one_kernel_call_equals_the_layers_one_by_one(
    cell: str, ragged: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    stack = build_layers(cell, 3, 5, num_layers=3).double()
    assert isinstance(stack, Stacked)
    x = torch.randn(4, 7, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 2, 5, 1]) if ragged else None
    state = stack.initial_state(4, dtype=torch.float64)
    state = type(state)(tuple(type(s)(*(torch.randn_like(t) for t in s)) for s in state.layers))
    calls = _count_kernel(monkeypatch, KERNELS[cell])
    y, final = stack(x, state, lengths)
    assert len(calls) == 1  # the whole stack in one call
    y_ref, final_ref, _ = stack._run(x, state, lengths, keep_states=False)  # layer by layer
    assert len(calls) == 4
    torch.testing.assert_close(y, y_ref)
    for a, b in zip(final.layers, final_ref.layers, strict=True):
        for t, u in zip(a, b, strict=True):
            torch.testing.assert_close(t, u)
    weights = torch.randn_like(y)
    grads = torch.autograd.grad((y * weights).sum(), [x, *stack.parameters()])
    grads_ref = torch.autograd.grad((y_ref * weights).sum(), [x, *stack.parameters()])
    for g, r in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, r)


def test_the_stack_is_split_when_it_must_be(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_kernel(monkeypatch, "lstm")
    x = torch.randn(2, 6, 4)
    dropped = build_layers("lstm", 4, 4, num_layers=2, dropout=0.5)
    dropped.train()(x)
    assert len(calls) == 2  # dropout between layers at work: layer by layer
    dropped.eval()(x)
    assert len(calls) == 3  # no dropout at evaluation: one call
    build_layers("lstm", 4, 4, num_layers=2, residual=True)(x)
    assert len(calls) == 5  # residual connections: layer by layer
    Stacked([Recurrent(build_layers("lstm", 4, 4).cell, fast=False), build_layers("lstm", 4, 4)])(x)
    assert len(calls) == 6  # a layer that must not use the kernel: only the other one does
    Stacked([build_layers("lstm", 4, 4), build_layers("gru", 4, 4)])(x)
    assert len(calls) == 7  # mixed kernels: the LSTM layer alone (and a GRU call)
