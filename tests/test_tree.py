"""State-leaf helpers of :mod:`rnnlab._tree`, and the measurements built on them with a
complex state: gradient flow, Jacobian spectra and professor forcing's behaviour vector
used to drop complex tensors without a word."""

from __future__ import annotations

import cmath
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn

from rnnlab._tree import (
    flatten_state,
    is_differentiable,
    state_leaves,
    state_with_leaves,
    unflatten_state,
)
from rnnlab.cells import LSTMState, URNNCell
from rnnlab.cells.base import Cell
from rnnlab.diagnostics import gradient_flow, jacobian_spectrum, state_tensors
from rnnlab.layers import Recurrent, StackedState
from rnnlab.models import Seq2Vec, Tagger
from rnnlab.tasks import AddingTask
from rnnlab.training.professor_forcing import hidden_step

B = 3


class ComplexState(NamedTuple):
    h: Tensor  # (B, H) complex
    step: Tensor  # (B,) long: not differentiable state


class ComplexLinearCell(Cell):
    """``h_t = lam h_{t-1} + (U x_t)_{re} + i (U x_t)_{im}`` with one complex ``lam`` for every
    unit, its state one complex tensor; the output is ``[Re h; Im h]``."""

    def __init__(self, input_size: int, hidden_size: int, lam: complex) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.output_size = 2 * hidden_size
        self.lam = lam
        self.U = nn.Linear(input_size, 2 * hidden_size, bias=False)

    def initial_state(self, batch: int, *, device: Any = None, dtype: Any = None) -> ComplexState:
        zeros = self._zeros(batch, device, dtype)
        return ComplexState(torch.complex(zeros, zeros), torch.zeros(batch, dtype=torch.long))

    def project_input(self, x: Tensor) -> Tensor:
        return self.U(x)

    def step(self, p_t: Tensor, state: ComplexState) -> tuple[Tensor, ComplexState]:
        H = self.hidden_size
        h = self.lam * state.h + torch.complex(p_t[:, :H], p_t[:, H:])
        return torch.cat([h.real, h.imag], dim=-1), ComplexState(h, state.step + 1)


def mixed_state() -> StackedState:
    """A nested state with a real LSTM part, a complex tensor, a step counter and a None."""
    g = torch.Generator().manual_seed(0)
    lstm = LSTMState(torch.randn(B, 4, generator=g), torch.randn(B, 4, generator=g))
    z = torch.complex(torch.randn(B, 2, 5, generator=g), torch.randn(B, 2, 5, generator=g))
    complex_part = ComplexState(z, torch.arange(B))
    return StackedState((lstm, complex_part, LSTMState(torch.ones(B, 1), None)))  # type: ignore[arg-type]


def test_leaves_in_field_order_and_round_trip() -> None:
    s = mixed_state()
    leaves = state_leaves(s)
    expected = [s.layers[0].h, s.layers[0].c, s.layers[1].h, s.layers[1].step, s.layers[2].h]
    assert len(leaves) == 5 and all(a is b for a, b in zip(leaves, expected, strict=True))
    rebuilt = state_with_leaves(s, [t * 2 for t in leaves])
    assert type(rebuilt) is StackedState and type(rebuilt.layers[1]) is ComplexState
    assert rebuilt.layers[2].c is None
    for new, old in zip(state_leaves(rebuilt), leaves, strict=True):
        assert torch.equal(new, old * 2)
    assert state_with_leaves(s, leaves) == s


def test_differentiable_leaves_keep_complex_and_drop_counters() -> None:
    s = mixed_state()
    leaves = state_leaves(s, differentiable_only=True)
    dtypes = [t.dtype for t in leaves]
    assert dtypes == [torch.float32, torch.float32, torch.complex64, torch.float32]
    same = state_tensors(s)  # the diagnostics' name for the same list
    assert len(same) == 4 and all(a is b for a, b in zip(same, leaves, strict=True))
    assert not is_differentiable(s.layers[1].step) and is_differentiable(s.layers[1].h)
    zeros = [torch.zeros_like(t) for t in leaves]
    refilled = state_with_leaves(s, zeros, differentiable_only=True)
    assert refilled.layers[1].step is s.layers[1].step  # the counter is kept
    assert float(refilled.layers[1].h.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="the state has 4 leaves, got 3 tensors"):
        state_with_leaves(s, zeros[:3], differentiable_only=True)


def test_flatten_state_counts_complex_as_re_im() -> None:
    s = mixed_state()
    flat = flatten_state(s)
    assert flat.shape == (B, 4 + 4 + 2 * 10 + 1) and flat.dtype == torch.float32
    z = s.layers[1].h
    torch.testing.assert_close(flat[:, 8:28], torch.view_as_real(z).reshape(B, -1))
    # the squared norm is every |z|^2 plus the real tensors' squares
    real = [s.layers[0].h, s.layers[0].c, s.layers[2].h]
    total = sum(float(t.pow(2).sum()) for t in real) + float(z.abs().pow(2).sum())
    assert float(flat.pow(2).sum()) == pytest.approx(total, rel=1e-5)
    back = unflatten_state(flat, s)
    assert type(back) is StackedState and back.layers[1].step is s.layers[1].step
    for a, b in zip(state_leaves(back), state_leaves(s), strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    with pytest.raises(ValueError, match=r"features must have shape \(B, 29\)"):
        unflatten_state(flat[:, :-1], s)


def test_flatten_state_of_a_complex_only_state() -> None:
    # before _tree, a state holding only a complex tensor flattened to nothing
    cell = ComplexLinearCell(2, 3, 0.5j)
    state = cell.step(torch.randn(B, 6), cell.initial_state(B))[1]
    flat = flatten_state(state)
    assert flat.shape == (B, 6)
    torch.testing.assert_close(flat, torch.view_as_real(state.h).reshape(B, 6))
    with pytest.raises(ValueError, match="no floating-point or complex tensor"):
        flatten_state(ComplexState(None, torch.zeros(B, dtype=torch.long)))  # type: ignore[arg-type]


def test_urnn_state_flattens_whole() -> None:
    cell = URNNCell(3, 4)
    _, state = cell(torch.randn(B, 3), cell.initial_state(B))
    assert flatten_state(state).shape == (B, 8)
    torch.testing.assert_close(flatten_state(state), torch.cat([state.h_re, state.h_im], -1))


def test_gradient_flow_counts_the_imaginary_part() -> None:
    # h_t = lam h_{t-1} + ...: dL/dh_t = conj(lam)^(T-t) dL/dh_T, so |dL/dh_t| halves every
    # step for |lam| = 1/2 whatever its phase; dropping Im(g) makes the ratios wander
    torch.manual_seed(0)
    T = 12
    task = AddingTask(T=T)
    model = Seq2Vec(Recurrent(ComplexLinearCell(2, 4, 0.5 * cmath.exp(1j))), 1)
    flow = gradient_flow(model, task, task.split("val").rows(slice(0, 8)))
    norms = torch.tensor(flow.norms, dtype=torch.float64)
    assert bool((norms > 0).all())
    torch.testing.assert_close(norms[:-1] / norms[1:], torch.full((T - 1,), 0.5).double())


def test_jacobian_spectrum_of_a_complex_state() -> None:
    # the real Jacobian of h -> lam h over [Re, Im] has singular values |lam|, twice per unit
    model = Tagger(Recurrent(ComplexLinearCell(3, 4, 0.5 * cmath.exp(0.3j))), 2)
    spectrum = jacobian_spectrum(model, torch.randn(5, 3))
    assert len(spectrum.step[0]) == 8
    for t, values in enumerate(spectrum.step, start=1):
        assert values == pytest.approx([0.5] * 8, rel=1e-6)
        assert spectrum.product_max[t - 1] == pytest.approx(0.5**t, rel=1e-6)


def test_professor_forcing_behaviour_includes_a_complex_state() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = ComplexLinearCell(2, 3, 0.5j)

        def step(self, tokens: Tensor, state: ComplexState) -> tuple[Tensor, ComplexState]:
            return self.cell(nn.functional.one_hot(tokens, 2).float(), state)

    model = Model()
    step = hidden_step(model)
    _, behaviour, state = step(torch.tensor([0, 1, 1]), model.cell.initial_state(B))
    assert behaviour.shape == (B, 6)
    torch.testing.assert_close(behaviour, torch.view_as_real(state.h).reshape(B, 6))
