"""Layer normalisation, zoneout and variational dropout as cells.

The conformance suite runs these cells in eval mode, where zoneout is its expectation and
dropout is off, so that its exact comparisons and ``gradcheck`` apply. The training-mode
behaviour (random masks) is checked here: its definition step by step, and ``gradcheck``
with the generator reseeded inside the checked function so every call draws the same masks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

from rnnlab.cells import (
    Cell,
    GRUCell,
    GRUState,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    LSTMState,
    VariationalDropout,
    Zoneout,
    make_cell,
)
from rnnlab.cells.layernorm import EPS, block_layer_norm
from rnnlab.layers import Recurrent

B, D, H, T = 4, 3, 5, 6
F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def randomised(cell: Cell) -> Cell:
    cell = cell.to(F64)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.7)
    return cell


def layer_norm(v: Tensor) -> Tensor:
    """(v - mean) / sqrt(var + eps) over the last axis, biased variance."""
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)
    return (v - mean) / torch.sqrt(var + EPS)


def per_gate(v: Tensor, gates: int) -> Tensor:
    return torch.cat([layer_norm(block) for block in v.chunk(gates, dim=-1)], dim=-1)


def sig(t: Tensor) -> Tensor:
    return torch.sigmoid(t)


# --------------------------------------------------------------------- layer normalisation


def test_block_layer_norm_has_zero_mean_unit_variance_per_block() -> None:
    v = 3.0 + 5.0 * torch.randn(7, 4 * H, dtype=F64)
    out = block_layer_norm(v, 4).view(7, 4, H)
    torch.testing.assert_close(out.mean(-1), torch.zeros(7, 4, dtype=F64))
    torch.testing.assert_close(
        out.var(-1, unbiased=False), torch.ones(7, 4, dtype=F64), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(block_layer_norm(v, 4), per_gate(v, 4))
    with pytest.raises(ValueError, match="3 blocks"):
        block_layer_norm(v, 3)


@pytest.mark.parametrize(("make", "gates"), [(LayerNormLSTMCell, 4), (LayerNormGRUCell, 3)])
def test_normalised_input_blocks_before_gain_and_bias(
    make: Callable[..., Cell], gates: int
) -> None:
    """With unit gains and zero biases the hoisted input term is LN(W x) itself: every gate's
    block of ``H`` units has zero mean and unit variance at every step."""
    cell = make(D, H).to(F64)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name.startswith("bias"):
                p.zero_()
    x = 10 * torch.randn(B, T, D, dtype=F64) + 2
    p = cell.project_input(x).view(B, T, gates, H)
    torch.testing.assert_close(p.mean(-1), torch.zeros(B, T, gates, dtype=F64))
    var = p.var(-1, unbiased=False)
    torch.testing.assert_close(var, torch.ones_like(var), atol=1e-4, rtol=0)


def test_ln_lstm_step_is_its_equation() -> None:
    cell = randomised(LayerNormLSTMCell(D, H))
    assert isinstance(cell, LayerNormLSTMCell)
    x, h, c = (torch.randn(B, n, dtype=F64) for n in (D, H, H))
    y, state = cell(x, LSTMState(h, c))
    gates = (
        cell.gain_ih * per_gate(x @ cell.weight_ih.T, 4)
        + cell.gain_hh * per_gate(h @ cell.weight_hh.T, 4)
        + cell.bias
    )
    i, f, g, o = gates.split(H, dim=-1)
    c_new = sig(f) * c + sig(i) * torch.tanh(g)
    h_new = sig(o) * torch.tanh(cell.gain_c * layer_norm(c_new) + cell.bias_c)
    torch.testing.assert_close(state.c, c_new)
    torch.testing.assert_close(state.h, h_new)
    torch.testing.assert_close(y, h_new)


def test_ln_gru_step_is_its_equation() -> None:
    cell = randomised(LayerNormGRUCell(D, H))
    assert isinstance(cell, LayerNormGRUCell)
    x, h = torch.randn(B, D, dtype=F64), torch.randn(B, H, dtype=F64)
    y, state = cell(x, GRUState(h))
    xs = (cell.gain_ih * per_gate(x @ cell.weight_ih.T, 3) + cell.bias_ih).split(H, dim=-1)
    hs = (cell.gain_hh * per_gate(h @ cell.weight_hh.T, 3) + cell.bias_hh).split(H, dim=-1)
    r, z = sig(xs[0] + hs[0]), sig(xs[1] + hs[1])
    n = torch.tanh(xs[2] + r * hs[2])
    expected = (1 - z) * n + z * h
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(state.h, expected)


def test_ln_lstm_forget_bias() -> None:
    cell = LayerNormLSTMCell(D, H, forget_bias=2.0)
    assert torch.equal(cell.bias[H : 2 * H], torch.full((H,), 2.0))


# -------------------------------------------------------------------------------- zoneout


def lstm_step(cell: LSTMCell, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
    y, s = cell(x, state)
    assert isinstance(s, LSTMState)
    return y, s


def random_lstm_state(batch: int = B) -> LSTMState:
    return LSTMState(torch.randn(batch, H, dtype=F64), torch.randn(batch, H, dtype=F64))


def test_zoneout_in_eval_is_the_expectation() -> None:
    inner = LSTMCell(D, H).to(F64)
    cell = Zoneout(inner, p_h=0.3, p_c=0.6).eval()
    x, old = torch.randn(B, D, dtype=F64), random_lstm_state()
    y, s = cell(x, old)
    _, new = lstm_step(inner, x, old)
    torch.testing.assert_close(s.h, 0.7 * new.h + 0.3 * old.h)
    torch.testing.assert_close(s.c, 0.4 * new.c + 0.6 * old.c)
    assert torch.equal(y, s.h)  # the output is the zoned-out h


def test_zoneout_in_training_keeps_either_old_or_new() -> None:
    inner = LSTMCell(D, H).to(F64)
    cell = Zoneout(inner, p_h=0.3, p_c=0.6).train()
    batch = 4000
    x, old = torch.randn(batch, D, dtype=F64), random_lstm_state(batch)
    y, s = cell(x, old)
    _, new = lstm_step(inner, x, old)
    assert torch.equal(y, s.h)
    for field, p in (("h", 0.3), ("c", 0.6)):
        got, o, n = getattr(s, field), getattr(old, field), getattr(new, field)
        kept, took = got == o, got == n
        assert bool((kept | took).all()), f"{field}: a unit is neither old nor new"
        assert abs(kept.double().mean().item() - p) < 0.02
    # each unit draws its own coin: the masks of h and c are not the same
    assert not torch.equal(s.h == old.h, s.c == old.c)


def test_zoneout_draws_new_masks_every_step() -> None:
    cell = Zoneout(LSTMCell(D, H), p_h=0.5, p_c=0.5).to(F64).train()
    state = random_lstm_state()
    x = torch.randn(B, D, dtype=F64)
    kept = [cell(x, state)[1].h == state.h for _ in range(3)]
    assert not torch.equal(kept[0], kept[1]) or not torch.equal(kept[1], kept[2])


def test_zoneout_of_zero_is_the_cell() -> None:
    inner = GRUCell(D, H).to(F64)
    cell = Zoneout(inner, p_h=0.0, p_c=0.0).train()
    x = torch.randn(B, T, D, dtype=F64)
    torch.testing.assert_close(Recurrent(cell)(x)[0], Recurrent(inner, fast=False)(x)[0])


# ----------------------------------------------------------------------- variational dropout


class RecordingLSTM(LSTMCell):
    """An LSTM that records the ``h_{t-1}`` its step receives."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.received: list[Tensor] = []

    def step(self, p_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        self.received.append(state.h.detach().clone())
        return super().step(p_t, state)


def masks_of_one_unroll(cell: VariationalDropout, x: Tensor, state: LSTMState) -> list[Tensor]:
    """The mask applied at each step: received h_{t-1} / true h_{t-1}."""
    inner = cell.cell
    assert isinstance(inner, RecordingLSTM)
    inner.received.clear()
    _, _, states = Recurrent(cell).trajectory(x, state)
    previous = [state.h] + [s.h for s in states[:-1]]
    return [r / p for r, p in zip(inner.received, previous, strict=True)]


def test_variational_mask_is_fixed_within_an_unroll_and_new_across_unrolls() -> None:
    p = 0.5
    cell = VariationalDropout(RecordingLSTM(D, H), p=p).to(F64).train()
    x, state = torch.randn(B, T, D, dtype=F64), random_lstm_state()
    first = masks_of_one_unroll(cell, x, state)
    assert len(first) == T
    for m in first:
        torch.testing.assert_close(m, first[0])
    values = first[0].round(decimals=6).unique().tolist()
    assert values == [0.0, 1 / (1 - p)]  # inverted dropout
    second = masks_of_one_unroll(cell, x, state)
    for m in second:
        torch.testing.assert_close(m, second[0])
    assert not torch.allclose(first[0], second[0])


def test_variational_mask_outside_an_unroll() -> None:
    """Stepping by hand: a mask per call, unless the loop runs inside ``unrolling()``."""
    inner = RecordingLSTM(D, H).to(F64)
    cell = VariationalDropout(inner, p=0.5).train()
    x, state = torch.randn(B, D, dtype=F64), random_lstm_state()
    for _ in range(3):
        cell(x, state)
    per_call = [r / state.h for r in inner.received]
    assert not all(torch.allclose(m, per_call[0]) for m in per_call[1:])
    inner.received.clear()
    with cell.unrolling():
        for _ in range(3):
            cell(x, state)
    fixed = [r / state.h for r in inner.received]
    for m in fixed:
        torch.testing.assert_close(m, fixed[0])


def test_variational_dropout_is_off_in_eval() -> None:
    inner = LSTMCell(D, H).to(F64)
    cell = VariationalDropout(inner, p=0.5).eval()
    x = torch.randn(B, T, D, dtype=F64)
    torch.testing.assert_close(Recurrent(cell)(x)[0], Recurrent(inner, fast=False)(x)[0])


def test_variational_dropout_drops_only_the_step_input() -> None:
    """The carried state is the cell's own: c is never masked, and h_t is unmasked."""
    inner = LSTMCell(D, H).to(F64)
    cell = VariationalDropout(inner, p=0.5).train()
    x, old = torch.randn(B, D, dtype=F64), random_lstm_state()
    torch.manual_seed(3)
    y, s = cell(x, old)
    torch.manual_seed(3)
    mask = old.h.new_empty(old.h.shape).bernoulli_(0.5) / 0.5
    _, expected = lstm_step(inner, x, LSTMState(old.h * mask, old.c))
    torch.testing.assert_close(s.h, expected.h)
    torch.testing.assert_close(s.c, expected.c)
    assert torch.equal(y, s.h)


# --------------------------------------------------------------- training-mode gradients


@pytest.mark.parametrize(
    "make",
    [
        lambda: Zoneout(LSTMCell(2, 3), p_h=0.4, p_c=0.5),
        lambda: VariationalDropout(LSTMCell(2, 3), p=0.4),
    ],
    ids=["zoneout", "variational"],
)
def test_gradcheck_in_training_mode(make: Callable[[], Cell]) -> None:
    layer = Recurrent(make().to(F64).train())
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    x = torch.randn(2, 4, 2, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    c0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    lengths = torch.tensor([4, 2])

    def run(x: Tensor, h0: Tensor, c0: Tensor, *ps: Tensor) -> tuple[Tensor, ...]:
        torch.manual_seed(7)  # the same masks at every call
        y, s = functional_call(
            layer, dict(zip(names, ps, strict=True)), (x, LSTMState(h0, c0), lengths)
        )
        return y, s.h, s.c

    assert torch.autograd.gradcheck(run, (x, h0, c0, *params))


# ------------------------------------------------------------------------ registry, errors


@pytest.mark.parametrize("name", ["ln_lstm", "ln_gru", "zoneout_lstm", "vd_lstm"])
def test_never_dispatched_to_the_fused_kernel(name: str) -> None:
    assert not Recurrent(make_cell(name, D, H), fast=True).uses_fused_kernel


def test_registered_builders() -> None:
    z = make_cell("zoneout_lstm", D, H)
    assert isinstance(z, Zoneout) and type(z.cell) is LSTMCell
    assert (z.p_h, z.p_c) == (0.05, 0.1)
    v = make_cell("vd_lstm", D, H)
    assert isinstance(v, VariationalDropout) and type(v.cell) is LSTMCell and v.p == 0.25
    assert isinstance(make_cell("ln_lstm", D, H), LayerNormLSTMCell)
    assert isinstance(make_cell("ln_gru", D, H), LayerNormGRUCell)


class _NoHState(NamedTuple):
    z: Tensor


class _NoHCell(Cell):
    def __init__(self) -> None:
        super().__init__()
        self.input_size = self.hidden_size = self.output_size = H
        self.w = torch.nn.Parameter(torch.zeros(1))

    def initial_state(self, batch: int, *, device: Any = None, dtype: Any = None) -> _NoHState:
        return _NoHState(self._zeros(batch, device, dtype))


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda: Zoneout(LSTMCell(D, H), p_h=1.5), ("p_h", "1.5")),
        (lambda: Zoneout(LSTMCell(D, H), p_c=-0.1), ("p_c", "-0.1")),
        (lambda: VariationalDropout(LSTMCell(D, H), p=1.0), ("p", "1.0", "[0, 1)")),
        (lambda: VariationalDropout(LSTMCell(D, H), p=True), ("p", "True")),
        (lambda: VariationalDropout(_NoHCell()), ("'h'", "_NoHCell")),
    ],
)
def test_bad_options_give_one_line_value_errors(
    make: Callable[[], object], needles: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError) as info:
        make()
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def test_wrappers_need_a_cell() -> None:
    with pytest.raises(TypeError, match="Zoneout needs an rnnlab Cell"):
        Zoneout(torch.nn.Linear(2, 2))
