"""Hierarchical multiscale LSTM: the three operations, the boundary estimator, its slope.

The conformance suite runs the registered ``hmrnn`` cell through every wrapper, except its
gradcheck: the straight-through estimator's backward is, by design, not the derivative of the
step-function forward (a finite difference through a step is 0). Here the cell is checked on
its own terms instead: the forward pass against a hand-written reference of FLUSH / UPDATE /
COPY, the estimator's gradient against its definition, gradcheck with the boundaries frozen,
and slope annealing changing the backward only.
"""

from __future__ import annotations

import math
from typing import cast

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

from rnnlab.cells import HMRNNCell, HMRNNState, LSTMCell, StatePart, make_cell, map_state
from rnnlab.cells.hmrnn import (
    annealed_slope,
    hard_sigmoid,
    set_slope,
    straight_through_boundary,
)
from rnnlab.layers import Recurrent

F64 = torch.float64
D, H, L = 3, 4, 3


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ------------------------------------------------------------------- hand-written reference


def reference_step(
    cell: HMRNNCell, x_t: Tensor, state: HMRNNState
) -> tuple[Tensor, HMRNNState, list[list[str]]]:
    """One step, row by row and layer by layer, choosing the operation with ``if``.

    Needs binary boundaries in ``state.z``. Returns the output, the state and the operation
    each row's layers performed.
    """
    Hs, Ls = cell.hidden_size, cell.num_layers
    h_out, c_out, z_out = state.h.clone(), state.c.clone(), state.z.clone()
    ops: list[list[str]] = []
    for b in range(x_t.shape[0]):
        row_ops = []
        z_below = 1.0  # z^0_t = 1
        for l in range(Ls):
            top = l == Ls - 1
            z_prev = 0.0 if top else float(state.z[b, l])  # the top layer never flushes
            assert z_prev in (0.0, 1.0) and z_below in (0.0, 1.0)
            if z_prev == 1.0:
                op = "FLUSH"
            elif z_below == 1.0:
                op = "UPDATE"
            else:
                op = "COPY"
            row_ops.append(op)
            h_prev, c_prev = state.h[b, l], state.c[b, l]
            if op == "COPY":  # the whole layer state is kept, boundary included
                h, c, z = h_prev, c_prev, float(state.z[b, l]) if not top else 0.0
            else:
                s = cell.bias[l].clone()
                if l == 0:
                    s = s + cell.weight_ih @ x_t[b]
                elif z_below == 1.0:  # bottom-up input only from a layer that ended a segment
                    s = s + cell.weight_bu[l - 1] @ h_out[b, l - 1]
                if not (op == "FLUSH" and cell.reset_recurrent_on_flush):
                    s = s + cell.weight_hh[l] @ h_prev
                if op == "FLUSH" and not top:  # top-down input only as a segment starts
                    s = s + cell.weight_td[l] @ state.h[b, l + 1]
                i = torch.sigmoid(s[:Hs])
                f = torch.sigmoid(s[Hs : 2 * Hs])
                g = torch.tanh(s[2 * Hs : 3 * Hs])
                o = torch.sigmoid(s[3 * Hs : 4 * Hs])
                c = i * g if op == "FLUSH" else f * c_prev + i * g
                h = o * torch.tanh(c)
                z = 0.0 if top else float(s[4 * Hs] > 0)
            h_out[b, l], c_out[b, l], z_out[b, l] = h, c, z
            z_below = z
        ops.append(row_ops)
    return h_out.flatten(1), HMRNNState(h_out, c_out, z_out), ops


def forcing_cell(reset: bool = False) -> HMRNNCell:
    """A cell whose boundaries are set by the data: ``z^1_t = [x_t[0] > 0]`` and, unless the
    layer copies, ``z^2_t = [h^2_{t-1}[0] > 0]``."""
    cell = HMRNNCell(D, H, num_layers=L, reset_recurrent_on_flush=reset).to(F64)
    Z = 4 * H  # the boundary row
    with torch.no_grad():
        for p in (cell.weight_ih, *cell.weight_hh[:2], *cell.weight_td, cell.weight_bu[0]):
            p[Z].zero_()
        cell.bias[0][Z] = 0.0
        cell.bias[1][Z] = 0.0
        cell.weight_ih[Z, 0] = 100.0
        cell.weight_hh[1][Z, 0] = 100.0
    return cell


def all_cases() -> tuple[Tensor, HMRNNState]:
    """16 rows: every combination of z^1_{t-1}, z^2_{t-1}, sign(x_t[0]), sign(h^2_{t-1}[0]);
    the top layer's (ignored) boundary is 1 in half of them."""
    grid = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=F64)] * 4)  # (16, 4)
    B = grid.shape[0]
    x = torch.randn(B, D, dtype=F64)
    x[:, 0] = torch.where(grid[:, 2] > 0, 1.0, -1.0)
    h = 0.5 * torch.randn(B, L, H, dtype=F64)
    h[:, 1, 0] = torch.where(grid[:, 3] > 0, 0.5, -0.5)
    c = torch.randn(B, L, H, dtype=F64)
    z = torch.stack([grid[:, 0], grid[:, 1], grid[:, 2]], dim=1)  # top column: junk 0/1
    return x, HMRNNState(h, c, z)


# ----------------------------------------------------------------------------- the forward


@pytest.mark.parametrize("reset", [False, True], ids=["paper", "reset_recurrent"])
def test_one_step_equals_reference_of_flush_update_copy(reset: bool) -> None:
    cell = forcing_cell(reset)
    x, state = all_cases()
    y, new = cell(x, state)
    y_ref, new_ref, ops = reference_step(cell, x, state)
    # every operation occurs: layer 1 FLUSH / UPDATE, layer 2 all three, the top UPDATE / COPY
    assert {r[0] for r in ops} == {"FLUSH", "UPDATE"}
    assert {r[1] for r in ops} == {"FLUSH", "UPDATE", "COPY"}
    assert {r[2] for r in ops} == {"UPDATE", "COPY"}
    torch.testing.assert_close(y, y_ref, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(new.h, new_ref.h, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(new.c, new_ref.c, rtol=1e-13, atol=1e-13)
    assert torch.equal(new.z, new_ref.z)
    assert torch.equal(new.z[:, 0], (x[:, 0] > 0).to(F64))  # the forced boundary
    assert torch.equal(new.z[:, -1], torch.zeros(16, dtype=F64))
    for b, row in enumerate(ops):
        for l, op in enumerate(row):
            if op == "COPY":  # copied bit for bit
                assert torch.equal(new.h[b, l], state.h[b, l])
                assert torch.equal(new.c[b, l], state.c[b, l])
            else:
                assert not torch.equal(new.h[b, l], state.h[b, l])


def test_flush_discards_the_old_cell_and_update_keeps_it() -> None:
    cell = forcing_cell()
    x, state = all_cases()
    _, new = cell(x, state)
    _, _, ops = reference_step(cell, x, state)
    for l in range(L):
        c = state.c.clone()
        c[:, l] += 1.0  # a different old cell in layer l only
        _, new2 = cell(x, state._replace(c=c))
        for b, row in enumerate(ops):
            same = torch.equal(new.c[b, l], new2.c[b, l])
            assert same == (row[l] == "FLUSH"), (b, l, row[l])


def test_reset_recurrent_on_flush_drops_only_the_recurrent_input() -> None:
    x, state = all_cases()
    plain, reset = forcing_cell(False), forcing_cell(False)
    reset.load_state_dict(plain.state_dict())
    reset.reset_recurrent_on_flush = True
    _, a = plain(x, state)
    _, b = reset(x, state)
    _, _, ops = reference_step(plain, x, state)
    for row, r_ops in enumerate(ops):
        for l, op in enumerate(r_ops):
            if op == "FLUSH":
                assert not torch.equal(a.h[row, l], b.h[row, l]), (row, l)
        if "FLUSH" not in r_ops:  # no layer of the row flushed: nothing changes
            assert torch.equal(a.h[row], b.h[row]) and torch.equal(a.c[row], b.c[row])


def test_unroll_equals_reference_over_many_steps() -> None:
    cell = HMRNNCell(D, H, num_layers=L).to(F64)
    with torch.no_grad():  # boundaries about half the time: every operation happens
        cell.bias[0][4 * H] = 0.0
        cell.bias[1][4 * H] = 0.0
    B, T = 5, 12
    x = torch.randn(B, T, D, dtype=F64)
    z0 = torch.randint(0, 2, (B, L)).to(F64)
    state = HMRNNState(torch.randn(B, L, H, dtype=F64), torch.randn(B, L, H, dtype=F64), z0)
    y, final = Recurrent(cell)(x, state)
    s, seen = state, set()
    for t in range(T):
        y_t, s, ops = reference_step(cell, x[:, t], s)
        torch.testing.assert_close(y[:, t], y_t, rtol=1e-12, atol=1e-12)
        seen |= {(l, op) for row in ops for l, op in enumerate(row)}
    assert {(1, "FLUSH"), (1, "UPDATE"), (1, "COPY"), (2, "UPDATE"), (2, "COPY")} <= seen
    torch.testing.assert_close(final.h, s.h, rtol=1e-12, atol=1e-12)
    assert torch.equal(final.z, s.z)


def test_one_layer_is_an_lstm() -> None:
    cell = HMRNNCell(D, H, num_layers=1).to(F64)
    lstm = LSTMCell(D, H).to(F64)
    assert lstm.bias_ih is not None and lstm.bias_hh is not None
    with torch.no_grad():
        lstm.weight_ih.copy_(cell.weight_ih)
        lstm.weight_hh.copy_(cell.weight_hh[0])
        lstm.bias_ih.copy_(cell.bias[0])
        lstm.bias_hh.zero_()
    x = torch.randn(2, 7, D, dtype=F64)
    y, s = Recurrent(cell)(x)
    y_ref, s_ref = Recurrent(lstm, fast=False)(x)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(s.c[:, 0], s_ref.c)
    assert s.z.shape == (2, 1) and not s.z.any()


def test_registered_builder() -> None:
    cell = make_cell("hmrnn", D, H)
    assert isinstance(cell, HMRNNCell)
    assert cell.num_layers == 3 and cell.output_size == 3 * H and cell.slope == 1.0
    state = cell.initial_state(2)
    assert state.h.shape == (2, 3, H) and state.c.shape == (2, 3, H) and state.z.shape == (2, 3)


# -------------------------------------------------------------------- the boundary estimator


def test_estimator_matches_its_definition() -> None:
    # values away from the kinks at |a z~| = 1 and the threshold at 0
    z_tilde = torch.tensor([-3.0, -0.9, -0.45, -0.3, -0.05, 0.05, 0.3, 0.45, 0.9, 3.0], dtype=F64)
    for a in (1.0, 2.5, 5.0):
        zt = z_tilde.clone().requires_grad_(True)
        z = straight_through_boundary(zt, a)
        # forward: the step function, exactly 0 or 1, whatever the slope
        assert torch.equal(z.detach(), (z_tilde > 0).to(F64))
        assert torch.equal(z.detach(), (hard_sigmoid(z_tilde, a) > 0.5).to(F64))
        (grad,) = torch.autograd.grad(z.sum(), zt)
        # backward: d hard_sigm(a z~) / d z~ = a/2 inside the linear region, 0 outside
        expected = torch.where((a * z_tilde).abs() < 1, a / 2, 0.0).to(F64)
        torch.testing.assert_close(grad, expected, rtol=0, atol=0)
        assert grad.count_nonzero() > 0 and (grad == 0).any()


def test_cell_boundary_gradient_matches_definition() -> None:
    """``d z^1_t / d x_t = (a/2) 1[|a z~| < 1] W_ih[z~ row]``, with ``z~`` computed by hand."""
    cell = HMRNNCell(D, H, num_layers=L).to(F64)
    a = 2.0
    cell.set_slope(a)
    B = 40
    scale = torch.linspace(0.05, 3, B, dtype=F64)[:, None]  # rows in and out of |a z~| < 1
    x = (torch.randn(B, D, dtype=F64) * scale).requires_grad_()
    state = HMRNNState(
        0.5 * torch.randn(B, L, H, dtype=F64),
        torch.randn(B, L, H, dtype=F64),
        torch.randint(0, 2, (B, L)).to(F64),
    )
    _, new = cell(x, state)
    (grad,) = torch.autograd.grad(new.z[:, 0].sum(), x)
    Z = 4 * H
    z_tilde = (
        x.detach() @ cell.weight_ih[Z]
        + cell.bias[0][Z]
        + state.h[:, 0] @ cell.weight_hh[0][Z]
        + state.z[:, 0] * (state.h[:, 1] @ cell.weight_td[0][Z])
    ).detach()
    inside = (a * z_tilde).abs() < 1
    assert inside.any() and (~inside).any()
    expected = torch.where(inside, a / 2, 0.0)[:, None] * cell.weight_ih[Z].detach()
    torch.testing.assert_close(grad, expected)
    assert torch.equal(new.z[:, 0], (z_tilde > 0).to(F64))


def test_slope_annealing_changes_backward_not_forward() -> None:
    layer = Recurrent(make_cell("hmrnn", D, H)).to(F64)
    x = torch.randn(3, 10, D, dtype=F64, requires_grad=True)
    results = []
    for a in (1.0, 5.0):
        set_slope(layer, a)
        y, final = layer(x)
        (gx,) = torch.autograd.grad(y.sum() + final.c.sum(), x)
        results.append((y.detach(), final.z, gx))
    (y1, z1, g1), (y5, z5, g5) = results
    assert torch.equal(y1, y5) and torch.equal(z1, z5)
    assert not torch.allclose(g1, g5)
    # frozen boundaries: the same forward again, and a different backward
    cell = layer.cell
    assert isinstance(cell, HMRNNCell)
    cell.straight_through = False
    y, final = layer(x)
    (g_frozen,) = torch.autograd.grad(y.sum() + final.c.sum(), x)
    assert torch.equal(y.detach(), y1)
    assert not torch.allclose(g_frozen, g1)


def run_fn(layer: Recurrent, state: HMRNNState, lengths: Tensor):  # type: ignore[no-untyped-def]
    names = [n for n, _ in layer.named_parameters()]

    def run(x: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        p = dict(zip(names, rest[: len(names)], strict=True))
        h, c, z = rest[len(names) :]
        y, final = functional_call(layer, p, (x, HMRNNState(h, c, z), lengths))
        return y, final.h, final.c, final.z

    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    leaves = [t.clone().requires_grad_(True) for t in state]
    return run, params, leaves


def test_gradcheck_with_frozen_boundaries() -> None:
    """With ``straight_through=False`` every remaining path is an ordinary derivative:
    input, every parameter (gates, and boundary rows whose gradient is then zero), and the
    initial state, a real-valued ``z`` included (it enters the step multiplicatively)."""
    cell = HMRNNCell(2, 3, num_layers=L, straight_through=False).to(F64)
    layer = Recurrent(cell)
    state = map_state(lambda t: 0.5 * torch.randn_like(t), layer.initial_state(2, dtype=F64))
    run, params, leaves = run_fn(layer, state, torch.tensor([3, 2]))
    x = torch.randn(2, 3, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (x, *params, *leaves))


def test_gradcheck_fails_through_the_straight_through_estimator() -> None:
    """Why the conformance gradcheck skips ``hmrnn``: the estimator's backward is not the
    derivative of the step function (whose finite difference is 0)."""
    cell = HMRNNCell(2, 3, num_layers=L).to(F64)
    layer = Recurrent(cell)
    state = map_state(lambda t: 0.5 * torch.randn_like(t), layer.initial_state(2, dtype=F64))
    run, params, leaves = run_fn(layer, state, torch.tensor([3, 2]))
    x = torch.randn(2, 3, 2, dtype=F64, requires_grad=True)
    assert not torch.autograd.gradcheck(run, (x, *params, *leaves), raise_exception=False)


# ------------------------------------------------------------------------------ errors, slope


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "2", True])
def test_bad_slope(bad: object) -> None:
    with pytest.raises(ValueError, match="slope") as info:
        HMRNNCell(D, H).set_slope(cast(float, bad))
    assert "\n" not in str(info.value) and repr(bad) in str(info.value)


def test_bad_num_layers() -> None:
    with pytest.raises(ValueError, match="num_layers must be a positive integer, got 0"):
        HMRNNCell(D, H, num_layers=0)


def test_annealed_slope() -> None:
    assert annealed_slope(0) == 1.0
    assert annealed_slope(50) == pytest.approx(3.0)
    assert annealed_slope(1000) == 5.0
    with pytest.raises(ValueError, match="-1"):
        annealed_slope(-1)
    cell = make_cell("hmrnn", D, H)
    model = torch.nn.Sequential(Recurrent(cell), Recurrent(LSTMCell(D, H)))
    assert set_slope(model, 3.0) == 1
    assert isinstance(cell, HMRNNCell) and cell.slope == 3.0


def test_state_parts_are_the_levels_bottom_first() -> None:
    # h is (B, L, H): level l is h[:, l - 1], the split gradient_flow reports per level
    cell = HMRNNCell(D, H, num_layers=L)
    assert cell.state_parts() == [StatePart(f"level {l + 1}", l, 1) for l in range(L)]
    assert [p.name for p in cell.state_parts()] == ["level 1", "level 2", "level 3"]
    assert cell.initial_state(2).h.shape[1] == L
