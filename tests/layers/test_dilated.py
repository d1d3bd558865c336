"""Dilated RNN: the folded unroll equals d separate chains, with ragged lengths and states."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

from rnnlab.cells import Cell, State, make_cell, map_state, select_rows
from rnnlab.layers import Dilated, DilatedState, Recurrent, Stacked, build_dilated

F64 = torch.float64
LENGTHS = [7, 2, 5]  # a full row, a row shorter than d, a ragged one
CELLS = ["elman", "lstm", "gru", "clockwork", "delay"]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def leaves(state: State) -> list[Tensor]:
    out: list[Tensor] = []
    map_state(lambda t: out.append(t) or t, state)  # type: ignore[func-returns-value]
    return out


def assert_state_equal(a: State, b: State) -> None:
    assert type(a) is type(b)
    for x, y in zip(leaves(a), leaves(b), strict=True):
        torch.testing.assert_close(x, y)


def chain(state: State, b: int, j: int) -> State:
    """Row ``b``, chain ``j`` of a ``DilatedState``'s ``(B, d, ...)`` leaves, as a batch of 1."""
    return map_state(lambda t: t[b, j].unsqueeze(0), state)


def naive(
    cell: Cell, d: int, x: Tensor, init: DilatedState, lengths: list[int]
) -> tuple[Tensor, list[list[State]]]:
    """d separate chains per row, each stepped with ``cell(x_t, s)`` over its real steps.

    Returns the outputs and, per row, the state after each of its steps t = -d..L-1 (the
    first d are the initial chains), so the final DilatedState is the last d of them.
    """
    B, T, _ = x.shape
    y = x.new_zeros(B, T, cell.output_size)
    history: list[list[State]] = []
    for b, L in enumerate(lengths):
        states = [chain(init.chains, b, j) for j in range(d)]  # "after steps" -d .. -1
        for t in range(L):
            y_t, s = cell(x[b : b + 1, t], states[t])  # step t reads the state after t - d
            y[b, t] = y_t[0]
            states.append(s)
        history.append(states)
    return y, history


def random_init(layer: Dilated, batch: int) -> DilatedState:
    return map_state(
        lambda t: 0.5 * torch.randn_like(t) if t.is_floating_point() else t,
        layer.initial_state(batch, dtype=F64),
    )


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("d", [1, 3, 4])
def test_equals_separate_chains(name: str, d: int) -> None:
    layer = Dilated(make_cell(name, 2, 4), dilation=d).to(F64)
    x = torch.randn(3, 7, 2, dtype=F64)
    init = random_init(layer, 3)
    for lengths in (None, LENGTHS):
        lens = [7, 7, 7] if lengths is None else lengths
        y, final = layer(x, init, None if lengths is None else torch.tensor(lengths))
        y_ref, history = naive(layer.cell, d, x, init, lens)
        torch.testing.assert_close(y, y_ref)
        assert isinstance(final, DilatedState)
        for b in range(3):
            for j in range(d):
                # chains[:, j] is the state after step L - d + j
                assert_state_equal(chain(final.chains, b, j), history[b][lens[b] + j])


@pytest.mark.parametrize("fast", [False, True], ids=["loop", "fast"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_chunks_continue_the_sequence(fast: bool, k: int) -> None:
    layer = Dilated(make_cell("lstm", 2, 4), dilation=4, fast=fast).to(F64)
    x = torch.randn(3, 11, 2, dtype=F64)
    y, final = layer(x)
    y_a, s_a = layer(x[:, :k])
    y_b, s_b = layer(x[:, k:], s_a)
    torch.testing.assert_close(torch.cat([y_a, y_b], dim=1), y)
    assert_state_equal(s_b, final)


def test_fast_path_equals_loop() -> None:
    cell = make_cell("gru", 2, 4).to(F64)
    x = torch.randn(3, 7, 2, dtype=F64)
    lengths = torch.tensor(LENGTHS)
    y, s = Dilated(cell, 2, fast=True)(x, None, lengths)
    y2, s2 = Dilated(cell, 2, fast=False)(x, None, lengths)
    torch.testing.assert_close(y, y2)
    assert_state_equal(s, s2)


def test_dilation_one_is_recurrent() -> None:
    cell = make_cell("elman", 2, 4).to(F64)
    x = torch.randn(3, 7, 2, dtype=F64)
    lengths = torch.tensor(LENGTHS)
    y, s = Dilated(cell, 1)(x, None, lengths)
    y2, s2 = Recurrent(cell)(x, None, lengths)
    torch.testing.assert_close(y, y2)
    assert_state_equal(map_state(lambda t: t[:, 0], s.chains), s2)


@pytest.mark.parametrize("name", ["gru", "clockwork"])
def test_padding_does_not_leak(name: str) -> None:
    layers = build_dilated(name, 2, 4, num_layers=3).to(F64)
    lengths = torch.tensor(LENGTHS)
    pad = (torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
    x = torch.randn(3, 7, 2, dtype=F64)
    results = []
    for fill in (0.0, float("nan")):
        x_fill = x.masked_fill(pad, fill).requires_grad_(True)
        layers.zero_grad(set_to_none=True)
        y, final = layers(x_fill, None, lengths)
        floats = [t for t in leaves(final) if t.is_floating_point()]
        (y.sum() + sum(t.sum() for t in floats)).backward()
        assert not y.masked_select(pad).any(), "padded outputs must be zero"
        assert x_fill.grad is not None and not x_fill.grad.isnan().any()
        assert not x_fill.grad.masked_select(pad).any()
        results.append((y, [p.grad for p in layers.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b)


def test_rows_independent_and_alone() -> None:
    layers = build_dilated("lstm", 2, 4, num_layers=2, dilations=[2, 3]).to(F64)
    x = torch.randn(3, 7, 2, dtype=F64)
    lengths = torch.tensor(LENGTHS)
    y, final = layers(x, None, lengths)
    for b, n in enumerate(LENGTHS):
        y_b, final_b = layers(x[b : b + 1, :n])
        torch.testing.assert_close(y[b : b + 1, :n], y_b)
        assert_state_equal(select_rows(final, torch.tensor([b])), final_b)
    torch.testing.assert_close(layers.summary(y, lengths), y[[0, 1, 2], [6, 1, 4]])


def test_gradcheck_stack() -> None:
    layers = build_dilated("gru", 2, 3, num_layers=2, dilations=[1, 2]).to(F64)
    assert isinstance(layers, Stacked)
    names = [n for n, _ in layers.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in layers.parameters()]
    x = torch.randn(2, 5, 2, dtype=F64, requires_grad=True)
    init = layers.initial_state(2, dtype=F64)
    h0 = 0.5 * torch.randn(2, 2, 3, dtype=F64)  # the top layer's two chains
    h0.requires_grad_(True)
    lengths = torch.tensor([5, 1])

    def run(x: Tensor, h0: Tensor, *ps: Tensor) -> tuple[Tensor, ...]:
        top = DilatedState(type(init.layers[1].chains)(h0))
        state = type(init)((init.layers[0], top))
        y, final = functional_call(layers, dict(zip(names, ps, strict=True)), (x, state, lengths))
        return (y, *leaves(final))

    assert torch.autograd.gradcheck(run, (x, h0, *params))


def test_build_defaults_and_errors() -> None:
    layers = build_dilated("elman", 3, 8, num_layers=4)
    assert isinstance(layers, Stacked)
    assert [layer.dilation for layer in layers.layers] == [1, 2, 4, 8]  # type: ignore[union-attr]
    single = build_dilated("gru", 3, 8, dilations=[4])
    assert isinstance(single, Dilated) and single.dilation == 4
    state = single.initial_state(5)
    assert state.chains.h.shape == (5, 4, 8)
    with pytest.raises(ValueError, match="dilations must have num_layers=2 entries, got 3"):
        build_dilated("gru", 3, 8, num_layers=2, dilations=[1, 2, 4])
    with pytest.raises(ValueError, match="every dilation must be a positive integer, got 0"):
        build_dilated("gru", 3, 8, num_layers=2, dilations=[1, 0])
    with pytest.raises(ValueError, match="dilation must be a positive integer, got -1"):
        Dilated(make_cell("gru", 3, 8), -1)


@pytest.mark.parametrize("name", ["elman", "lstm", "clockwork"])
@pytest.mark.parametrize("d", [1, 3])
def test_trajectory_is_the_folded_unroll_in_time_order(name: str, d: int) -> None:
    layer = Dilated(make_cell(name, 2, 4), dilation=d).to(F64)
    x = torch.randn(3, 7, 2, dtype=F64)
    init = random_init(layer, 3)
    for lengths in (None, LENGTHS):
        lens = [7, 7, 7] if lengths is None else lengths
        given = None if lengths is None else torch.tensor(lengths)
        y, final = layer(x, init, given)  # the folded (B*d)-row unroll
        y_traj, final_traj, states = layer.trajectory(x, init, given)
        torch.testing.assert_close(y_traj, y)
        assert_state_equal(final_traj, final)
        assert len(states) == 7
        _, history = naive(layer.cell, d, x, init, lens)  # the chains run by hand
        for b, L in enumerate(lens):
            for t in range(L):
                # states[t] is the state after step t: history[b][t + d]
                assert_state_equal(
                    map_state(lambda s, b=b: s[b : b + 1], states[t]), history[b][t + d]
                )


def test_trajectory_states_are_graph_nodes() -> None:
    layer = Dilated(make_cell("elman", 2, 3), dilation=2).to(F64)
    x = torch.randn(2, 6, 2, dtype=F64)
    y, _, states = layer.trajectory(x)
    # the loss reads h_5 only: dL/dh_t is zero off its chain (t = 1, 3) and on h_5 it is 1
    grads = torch.autograd.grad(y[:, 5].sum(), [s.h for s in states], allow_unused=True)
    for t in (0, 2, 4):
        assert grads[t] is None or not grads[t].any()
    torch.testing.assert_close(grads[5], torch.ones(2, 3, dtype=F64))
    assert all(grads[t] is not None and grads[t].abs().sum() > 0 for t in (1, 3))


def test_stacked_layer_trajectories_run_each_layer_in_turn() -> None:
    layers = build_dilated("gru", 2, 4, num_layers=2, dilations=[1, 3], residual=True).to(F64)
    assert isinstance(layers, Stacked)
    x = torch.randn(3, 7, 2, dtype=F64)
    lengths = torch.tensor(LENGTHS)
    y, final = layers(x, None, lengths)
    y_traj, final_traj, trajectories = layers.layer_trajectories(x, None, lengths)
    torch.testing.assert_close(y_traj, y)
    assert_state_equal(final_traj, final)
    assert [tr.dilation for tr in trajectories] == [1, 3]
    bottom, top = layers.layers
    assert [tr.cell for tr in trajectories] == [bottom.cell, top.cell]  # type: ignore[union-attr]
    # by hand: the bottom layer's trajectory, then the top's on its output
    y1, _, s1 = bottom.trajectory(x, None, lengths)  # type: ignore[operator]
    _, _, s2 = top.trajectory(y1, None, lengths)  # type: ignore[operator]
    for mine, ref in ((trajectories[0].states, s1), (trajectories[1].states, s2)):
        assert len(mine) == 7
        for a, b in zip(mine, ref, strict=True):
            assert_state_equal(a, b)
