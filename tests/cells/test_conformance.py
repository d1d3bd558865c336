"""Conformance suite: every registered cell x every sequence wrapper.

The cells are read from the registry at collection time, so a cell registered with
:func:`rnnlab.cells.register_cell` joins every test here automatically. Each layer is
checked against a slow reference that steps ``cell(x_t, state)`` row by row over the real
steps only (``reference``), in float64 so that comparisons are tight.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.func import functional_call

from rnnlab.cells import (
    Cell,
    State,
    cell_names,
    decoding,
    make_cell,
    map_state,
    select_rows,
    step_loop,
    zip_map_state,
)
from rnnlab.layers import Bidirectional, Recurrent, SequenceLayer, Stacked
from rnnlab.layers.bidirectional import BidirectionalState
from rnnlab.layers.stacked import StackedState

CELLS = cell_names()
WRAPPERS = ["loop", "fast", "bidir", "stacked"]

B, T, D, H = 3, 6, 3, 5
LENGTHS = [4, 6, 1]  # unsorted, with a full row and a one-step row
F64 = torch.float64
# options that keep a cell small enough for float64 gradcheck (its defaults elsewhere)
SMALL_OPTIONS: dict[str, dict[str, Any]] = {
    "ntm": dict(memory_slots=4, memory_width=2, write_heads=2),
}


def make_small(name: str, d: int, h: int) -> Cell:
    """The registered cell ``name`` with its :data:`SMALL_OPTIONS`."""
    return make_cell(name, d, h, **SMALL_OPTIONS.get(name, {}))


def build(name: str, wrapper: str, d: int = D, h: int = H) -> SequenceLayer:
    """The registered cell ``name`` inside ``wrapper``, in float64 and eval mode."""
    layer: SequenceLayer
    if wrapper == "loop":
        layer = Recurrent(make_small(name, d, h), fast=False)
    elif wrapper == "fast":
        layer = Recurrent(make_small(name, d, h), fast=True)
    elif wrapper == "bidir":
        layer = Bidirectional(make_small(name, d, h), make_small(name, d, h))
    elif wrapper == "stacked":
        bottom = Recurrent(make_small(name, d, h))
        top = Recurrent(make_small(name, bottom.output_size, h))
        # dropout must be off in eval mode; the residual is live when the sizes match
        layer = Stacked([bottom, top], dropout=0.5, residual=True)
    else:
        raise AssertionError(wrapper)
    return layer.to(F64).eval()


# ----------------------------------------------------------------------------- helpers


def leaves(state: State) -> list[Tensor]:
    out: list[Tensor] = []

    def keep(t: Tensor) -> Tensor:
        out.append(t)
        return t

    map_state(keep, state)
    return out


def refill(state: State, tensors: list[Tensor]) -> State:
    """``state``'s structure with ``tensors`` (in :func:`leaves` order) as its leaves."""
    it = iter(tensors)
    return map_state(lambda _: next(it), state)


def random_state(layer: SequenceLayer, batch: int) -> State:
    """A non-zero initial state (integer leaves, e.g. counters, are left alone)."""
    return map_state(
        lambda t: 0.5 * torch.randn_like(t) if t.is_floating_point() else t,
        layer.initial_state(batch, dtype=F64),
    )


def assert_state_close(actual: State, expected: State, **tol: Any) -> None:
    assert type(actual) is type(expected)
    a, e = leaves(actual), leaves(expected)
    assert len(a) == len(e)
    for x, y in zip(a, e, strict=True):
        torch.testing.assert_close(x, y, **tol)


def cat_rows(states: list[State]) -> State:
    return functools.reduce(
        lambda a, b: zip_map_state(lambda u, v: torch.cat([u, v]), a, b), states
    )


def ref_unroll(
    cell: Cell, x: Tensor, state: State, lengths: list[int] | None, reverse: bool
) -> tuple[Tensor, State]:
    """Row by row, ``cell(x_t, s)`` over the first ``lengths[b]`` steps (reversed if asked)."""
    ys, finals = [], []
    for b in range(x.shape[0]):
        n = x.shape[1] if lengths is None else lengths[b]
        s = select_rows(state, torch.tensor([b]))
        row: list[Tensor] = [x.new_zeros(cell.output_size)] * x.shape[1]
        for t in reversed(range(n)) if reverse else range(n):
            y_t, s = cell(x[b : b + 1, t], s)
            row[t] = y_t[0]
        ys.append(torch.stack(row))
        finals.append(s)
    return torch.stack(ys), cat_rows(finals)


def reference(
    layer: SequenceLayer, x: Tensor, state: State, lengths: list[int] | None
) -> tuple[Tensor, State]:
    """What ``layer(x, state, lengths)`` must return, computed the slow obvious way."""
    if isinstance(layer, Recurrent):
        return ref_unroll(layer.cell, x, state, lengths, reverse=False)
    if isinstance(layer, Bidirectional):
        y_f, s_f = ref_unroll(layer.forward_layer.cell, x, state.forward, lengths, False)
        # the backward half: a manual unroll of each row reversed within its length
        y_b, s_b = ref_unroll(layer.backward_layer.cell, x, state.backward, lengths, True)
        return torch.cat([y_f, y_b], dim=-1), BidirectionalState(s_f, s_b)
    if isinstance(layer, Stacked):
        h, finals = x, []
        for i, sub in enumerate(layer.layers):
            out, final = reference(sub, h, state.layers[i], lengths)
            if layer.residual and i > 0 and out.shape[-1] == h.shape[-1]:
                out = out + h
            h = out
            finals.append(final)
        return h, StackedState(tuple(finals))
    raise AssertionError(type(layer))


def inputs(batch: int = B, steps: int = T, d: int = D) -> Tensor:
    return torch.randn(batch, steps, d, dtype=F64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


cells_x_wrappers = pytest.mark.parametrize(
    ("name", "wrapper"), [(n, w) for n in CELLS for w in WRAPPERS]
)
# the backward direction of a bidirectional layer cannot be continued chunk by chunk
cells_x_forward_wrappers = pytest.mark.parametrize(
    ("name", "wrapper"), [(n, w) for n in CELLS for w in WRAPPERS if w != "bidir"]
)


# ------------------------------------------------------------------------------- tests


def test_registry_is_not_empty() -> None:
    assert {"elman", "lstm", "gru"} <= set(CELLS)


@cells_x_wrappers
def test_shapes(name: str, wrapper: str) -> None:
    layer = build(name, wrapper)
    y, final = layer(inputs())
    assert y.shape == (B, T, layer.output_size)
    assert y.dtype == F64
    init = layer.initial_state(B, dtype=F64)
    assert type(final) is type(init)
    for f, i in zip(leaves(final), leaves(init), strict=True):
        assert f.shape == i.shape and f.dtype == i.dtype
        assert f.shape[0] == B


@cells_x_wrappers
def test_unroll_equals_stepwise_loop(name: str, wrapper: str) -> None:
    """Full-length sequences from a non-zero initial state: outputs and final state."""
    layer = build(name, wrapper)
    x, state = inputs(), random_state(layer, B)
    y, final = layer(x, state)
    y_ref, final_ref = reference(layer, x, state, None)
    torch.testing.assert_close(y, y_ref)
    assert_state_close(final, final_ref)


@cells_x_wrappers
def test_unroll_with_lengths_equals_truncated_unroll(name: str, wrapper: str) -> None:
    layer = build(name, wrapper)
    x, state = inputs(), random_state(layer, B)
    y, final = layer(x, state, torch.tensor(LENGTHS))
    y_ref, final_ref = reference(layer, x, state, LENGTHS)
    torch.testing.assert_close(y, y_ref)
    assert_state_close(final, final_ref)
    # and each row alone, cut to its length, gives the same as the padded batch
    for b, n in enumerate(LENGTHS):
        y_b, final_b = layer(x[b : b + 1, :n], select_rows(state, torch.tensor([b])))
        torch.testing.assert_close(y[b : b + 1, :n], y_b)
        assert_state_close(select_rows(final, torch.tensor([b])), final_b)


@cells_x_wrappers
def test_padding_does_not_leak(name: str, wrapper: str) -> None:
    layer = build(name, wrapper)
    lengths = torch.tensor(LENGTHS)
    pad = torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)
    x = inputs()
    results = []
    padded = pad.unsqueeze(-1)
    fills = [
        x.masked_fill(padded, 0.0),
        torch.where(padded, 100 * torch.randn_like(x), x),
        x.masked_fill(padded, float("nan")),
    ]
    for x_fill in fills:
        x_fill.requires_grad_(True)
        layer.zero_grad(set_to_none=True)
        y, final = layer(x_fill, None, lengths)
        (y.sum() + sum(t.sum() for t in leaves(final) if t.is_floating_point())).backward()
        assert torch.equal(y[pad], torch.zeros_like(y[pad])), "padded outputs must be zero"
        assert x_fill.grad is not None
        grad_x = x_fill.grad
        assert torch.equal(grad_x[pad], torch.zeros_like(grad_x[pad]))
        grads = [p.grad.clone() for p in layer.parameters() if p.grad is not None]
        results.append((y.detach(), final, grad_x, grads))
    y0, final0, gx0, g0 = results[0]
    for y, final, gx, g in results[1:]:
        torch.testing.assert_close(y, y0)
        assert_state_close(final, final0)
        torch.testing.assert_close(gx, gx0)
        for a, e in zip(g, g0, strict=True):
            torch.testing.assert_close(a, e)


@cells_x_wrappers
def test_batch_rows_are_independent(name: str, wrapper: str) -> None:
    layer = build(name, wrapper)
    lengths = torch.tensor(LENGTHS)
    x = inputs()
    x2 = x.clone()
    x2[1] = torch.randn(T, D, dtype=F64)
    keep = torch.tensor([0, 2])
    for lens in (None, lengths):
        y, final = layer(x, None, lens)
        y2, final2 = layer(x2, None, lens)
        assert not torch.allclose(y[1], y2[1])
        torch.testing.assert_close(y2[keep], y[keep])
        assert_state_close(select_rows(final2, keep), select_rows(final, keep))


@cells_x_wrappers
def test_gradcheck(name: str, wrapper: str) -> None:
    """Gradients wrt input, initial state and every parameter, with ragged lengths."""
    if name == "hmrnn":
        pytest.skip(
            "hmrnn's straight-through boundary estimator is by design not the derivative of "
            "its step-function forward; tests/cells/test_hmrnn.py checks the estimator against "
            "its definition and gradchecks the cell with the boundaries frozen"
        )
    layer = build(name, wrapper, d=2, h=3)
    lengths = torch.tensor([3, 2])
    x = inputs(2, 3, 2).requires_grad_(True)
    state = random_state(layer, 2)
    state_leaves = [t.requires_grad_(t.is_floating_point()) for t in leaves(state)]
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    assert params, "a cell without parameters has nothing to learn"

    def run(x: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        p = dict(zip(names, rest[: len(names)], strict=True))
        s = refill(state, list(rest[len(names) :]))
        y, final = functional_call(layer, p, (x, s, lengths))
        return (y, *[t for t in leaves(final) if t.is_floating_point()])

    assert torch.autograd.gradcheck(run, (x, *params, *state_leaves))


@cells_x_wrappers
def test_state_dict_roundtrip_through_safetensors(name: str, wrapper: str, tmp_path: Path) -> None:
    layer = build(name, wrapper)
    path = tmp_path / "layer.safetensors"
    save_file({k: v.contiguous() for k, v in layer.state_dict().items()}, str(path))
    torch.manual_seed(1)
    fresh = build(name, wrapper)
    x = inputs()
    lengths = torch.tensor(LENGTHS)
    assert not torch.allclose(fresh(x)[0], layer(x)[0])
    missing, unexpected = fresh.load_state_dict(load_file(str(path)), strict=True)
    assert not missing and not unexpected
    for lens in (None, lengths):
        y, final = layer(x, None, lens)
        y2, final2 = fresh(x, None, lens)
        assert torch.equal(y, y2)
        assert_state_close(final2, final, rtol=0, atol=0)


@cells_x_wrappers
def test_explicit_initial_state_equals_default(name: str, wrapper: str) -> None:
    layer = build(name, wrapper)
    x = inputs()
    for lens in (None, torch.tensor(LENGTHS)):
        y, final = layer(x, None, lens)
        y2, final2 = layer(x, layer.initial_state(B, dtype=F64), lens)
        torch.testing.assert_close(y2, y, rtol=0, atol=0)
        assert_state_close(final2, final, rtol=0, atol=0)


@cells_x_forward_wrappers
def test_final_state_is_last_step_state(name: str, wrapper: str) -> None:
    """Running ``T`` steps in two chunks, carrying the state, equals one run of ``T``.

    (For every wrapper, bidirectional included, the final state is also compared with the
    reference's last-step state in the tests above.)
    """
    layer = build(name, wrapper)
    x, state = inputs(), random_state(layer, B)
    y, final = layer(x, state)
    for k in (1, T - 1):
        y_a, s_a = layer(x[:, :k], state)
        y_b, s_b = layer(x[:, k:], s_a)
        torch.testing.assert_close(torch.cat([y_a, y_b], dim=1), y)
        assert_state_close(s_b, final)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("fast", [False, True], ids=["loop", "fast"])
def test_trajectory_states(name: str, fast: bool) -> None:
    layer = build(name, "fast" if fast else "loop")
    assert isinstance(layer, Recurrent)
    x, state = inputs(), random_state(layer, B)
    lengths = torch.tensor(LENGTHS)
    y, final = layer(x, state, lengths)
    y_tr, final_tr, states = layer.trajectory(x, state, lengths)
    assert len(states) == T
    torch.testing.assert_close(y_tr, y)
    assert_state_close(final_tr, final)
    assert_state_close(states[-1], final)
    for b, n in enumerate(LENGTHS):
        row = torch.tensor([b])
        # the state at the last real step, held fixed over the padding
        for t in range(n - 1, T):
            assert_state_close(select_rows(states[t], row), select_rows(final, row))


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("fast", [False, True], ids=["loop", "fast"])
def test_bidirectional_backward_half_is_reversed_unroll(name: str, fast: bool) -> None:
    # eval mode, as in build(): a regularising cell (zoneout, dropout) is random in training
    layer = Bidirectional(make_small(name, D, H), make_small(name, D, H), fast=fast).to(F64).eval()
    x = inputs()
    y, final = layer(x, None, torch.tensor(LENGTHS))
    h_f = layer.forward_layer.output_size
    bwd = layer.backward_layer.cell
    for b, n in enumerate(LENGTHS):
        rev = x[b : b + 1, :n].flip(1)  # the row read right to left, padding dropped
        s = bwd.initial_state(1, dtype=F64)
        outs = []
        for x_t in rev.unbind(1):
            y_t, s = bwd(x_t, s)
            outs.append(y_t[0])
        expected = torch.stack(outs).flip(0)  # y_b[t] summarises x[t:n]
        torch.testing.assert_close(y[b, :n, h_f:], expected)
        assert torch.equal(y[b, n:], torch.zeros_like(y[b, n:]))
        assert_state_close(select_rows(final.backward, torch.tensor([b])), s)


# awkward lengths for scan: none, ragged, all full given explicitly, all one step
SCAN_LENGTHS = {"none": None, "ragged": LENGTHS, "full": [T] * B, "ones": [1] * B}


@pytest.mark.parametrize("lengths", list(SCAN_LENGTHS), ids=list(SCAN_LENGTHS))
@pytest.mark.parametrize("name", CELLS)
def test_scan_equals_step_loop(name: str, lengths: str) -> None:
    """``cell.scan`` (a fused kernel, a parallel form, or the default loop) equals the step
    loop on outputs, final state and every gradient, with NaN padding kept out of all."""
    cell = make_small(name, D, H).to(F64).eval()
    lens = SCAN_LENGTHS[lengths]
    lens_t = None if lens is None else torch.tensor(lens)
    x = inputs()
    if lens_t is not None:
        pad = torch.arange(T).unsqueeze(0) >= lens_t.unsqueeze(1)  # (B, T)
        x = x.masked_fill(pad.unsqueeze(-1), float("nan"))
    state = map_state(
        lambda t: 0.5 * torch.randn_like(t) if t.is_floating_point() else t,
        cell.initial_state(B, dtype=F64),
    )
    results = []
    for run in ("scan", "loop"):
        x_run = x.clone().requires_grad_(True)
        s_leaves = [t.clone().requires_grad_(t.is_floating_point()) for t in leaves(state)]
        s_run = refill(state, s_leaves)
        if run == "scan":
            y, final = cell.scan(x_run, s_run, lens_t)
        else:
            y, final, _ = step_loop(cell, x_run, s_run, lens_t)
        floats = [t for t in leaves(final) if t.is_floating_point()]
        loss = (y * torch.linspace(-1, 1, y.numel(), dtype=F64).view_as(y)).sum()
        loss = loss + sum((t * t).sum() for t in floats)
        wrt = [x_run, *(t for t in s_leaves if t.requires_grad), *cell.parameters()]
        g = torch.autograd.grad(loss, wrt, allow_unused=True)
        results.append((y.detach(), final, g))
    (y, final, g), (y_ref, final_ref, g_ref) = results
    assert not y.isnan().any()
    torch.testing.assert_close(y, y_ref)
    assert_state_close(final, final_ref)
    for a, e in zip(g, g_ref, strict=True):
        if e is None:
            assert a is None or not a.any()
            continue
        assert a is not None and not a.isnan().any()
        torch.testing.assert_close(a, e)


@pytest.mark.parametrize("name", CELLS)
def test_affine_input_is_project_input(name: str) -> None:
    """Where a cell declares ``affine_input() = (W, b)``, ``project_input(x) = x W^T + b``."""
    cell = make_small(name, D, H).to(F64)
    affine = cell.affine_input()
    if affine is None:
        return
    W, b = affine
    x = inputs()
    torch.testing.assert_close(cell.project_input(x), torch.nn.functional.linear(x, W, b))


@pytest.mark.parametrize("name", CELLS)
def test_decoding_context_leaves_token_steps_unchanged(name: str) -> None:
    """Token by token (one unroll per token, as ``LanguageModel.step`` does), inside
    ``decoding`` equals outside, though derived weights are computed once inside."""
    layer = build(name, "fast")
    x, state = inputs(), random_state(layer, B)
    runs = []
    for inside in (False, True):
        s, ys = state, []
        with torch.no_grad(), decoding(layer) if inside else contextlib.nullcontext():
            for t in range(T):
                y_t, s = layer(x[:, t : t + 1], s)
                ys.append(y_t)
        runs.append((torch.cat(ys, dim=1), s))
    (y_in, s_in), (y_out, s_out) = runs[1], runs[0]
    torch.testing.assert_close(y_in, y_out, rtol=0, atol=0)
    assert_state_close(s_in, s_out, rtol=0, atol=0)


@pytest.mark.parametrize("name", CELLS)
def test_state_parts_slice_the_hidden_state(name: str) -> None:
    """``state_parts()`` names disjoint slices of ``h`` along axis 1, inside its bounds."""
    cell = make_small(name, D, H)
    parts = cell.state_parts()
    if not parts:
        return
    h = cell.initial_state(B).h
    assert len({p.name for p in parts}) == len(parts)
    covered: set[int] = set()
    for part in parts:
        assert part.length >= 1 and part.start >= 0 and part.start + part.length <= h.shape[1]
        units = set(range(part.start, part.start + part.length))
        assert not units & covered
        covered |= units
