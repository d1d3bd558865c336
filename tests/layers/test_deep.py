"""Deep RNN with skip connections: every layer reads the input, the output reads every layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from rnnlab.cells import make_cell, map_state, select_rows
from rnnlab.layers import (
    Bidirectional,
    DeepStacked,
    DeepStackedState,
    Recurrent,
    SequenceLayer,
    Stacked,
    build_deep_stacked,
    layer_trajectories,
)
from rnnlab.models import Seq2Vec
from rnnlab.tasks.base import Batch

F64 = torch.float64
B, T, D, H = 3, 6, 2, 4
LENGTHS = [6, 3, 1]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def build(cell: str = "lstm", bidirectional: bool = False, num_layers: int = 3) -> DeepStacked:
    layer = build_deep_stacked(cell, D, H, num_layers=num_layers, bidirectional=bidirectional)
    return layer.to(F64).eval()


def leaves(state: Any) -> list[Tensor]:
    out: list[Tensor] = []
    map_state(lambda t: out.append(t) or t, state)  # type: ignore[func-returns-value]
    return out


def assert_state_close(a: Any, b: Any, **tol: Any) -> None:
    assert type(a) is type(b)
    for x, y in zip(leaves(a), leaves(b), strict=True):
        torch.testing.assert_close(x, y, **tol)


CASES = pytest.mark.parametrize(
    ("cell", "bidirectional"),
    [("lstm", False), ("gru", True), ("elman", False), ("hmrnn", False)],
    ids=["lstm", "gru_bidir", "elman", "hmrnn"],
)


@CASES
def test_shapes_and_sizes(cell: str, bidirectional: bool) -> None:
    layer = build(cell, bidirectional)
    per_layer = make_cell(cell, D, H).output_size * (2 if bidirectional else 1)
    assert layer.layer_sizes == (per_layer,) * 3
    assert layer.output_size == 3 * per_layer
    assert [sub.input_size for sub in layer.layers] == [D, D + per_layer, D + per_layer]
    y, final = layer(torch.randn(B, T, D, dtype=F64))
    assert y.shape == (B, T, 3 * per_layer)
    assert isinstance(final, DeepStackedState) and len(final.layers) == 3
    for f, i in zip(leaves(final), leaves(layer.initial_state(B, dtype=F64)), strict=True):
        assert f.shape == i.shape and f.dtype == i.dtype


@CASES
def test_equals_layers_fed_input_and_layer_below(cell: str, bidirectional: bool) -> None:
    layer = build(cell, bidirectional)
    x = torch.randn(B, T, D, dtype=F64)
    lengths = torch.tensor(LENGTHS)
    y, final = layer(x, None, lengths)
    below, outs, finals = None, [], []
    for sub in layer.layers:
        inp = x if below is None else torch.cat([x, below], dim=-1)
        below, f = sub(inp, None, lengths)
        outs.append(below)
        finals.append(f)
    torch.testing.assert_close(y, torch.cat(outs, dim=-1))
    assert_state_close(final, DeepStackedState(tuple(finals)))
    for part, out in zip(layer.layer_outputs(y), outs, strict=True):
        torch.testing.assert_close(part, out)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("top", [1, 2])
def test_every_layer_sees_the_input_when_lower_layers_are_dead(cell: str, top: int) -> None:
    """With every weight of the layers below ``top`` zero, those layers output zero whatever
    the input; layer ``top`` still depends on x through its input skip (in a plain stack the
    same dead bottom layer cuts everything above it off from the input)."""
    layer = build(cell)
    with torch.no_grad():
        for sub in layer.layers[:top]:
            for p in sub.parameters():
                p.zero_()
    x = torch.randn(B, T, D, dtype=F64, requires_grad=True)
    parts = layer.layer_outputs(layer(x)[0])
    for l in range(top):
        assert not parts[l].any(), f"layer {l} should be dead"
    (grad,) = torch.autograd.grad(parts[top].sum(), x)
    assert grad.abs().sum() > 0, f"layer {top} does not see x"
    plain = Stacked([Recurrent(make_cell(cell, D, H)), Recurrent(make_cell(cell, H, H))]).to(F64)
    with torch.no_grad():
        for p in plain.layers[0].parameters():
            p.zero_()
    (grad_plain,) = torch.autograd.grad(plain(x)[0].sum(), x)
    assert not grad_plain.any()


@CASES
def test_padding_and_lengths_like_stacked(cell: str, bidirectional: bool) -> None:
    layer = build(cell, bidirectional)
    lengths = torch.tensor(LENGTHS)
    pad = torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)
    x = torch.randn(B, T, D, dtype=F64)
    results = []
    for fill in (0.0, float("nan")):
        x_fill = x.masked_fill(pad.unsqueeze(-1), fill).requires_grad_(True)
        layer.zero_grad(set_to_none=True)
        y, final = layer(x_fill, None, lengths)
        (y.sum() + sum(t.sum() for t in leaves(final))).backward()
        assert torch.equal(y[pad], torch.zeros_like(y[pad])), "padded outputs must be zero"
        assert x_fill.grad is not None and not x_fill.grad[pad].any()
        assert not x_fill.grad.isnan().any()
        grads = [p.grad.clone() for p in layer.parameters() if p.grad is not None]
        results.append((y.detach(), final, x_fill.grad, grads))
    (y0, f0, gx0, g0), (y1, f1, gx1, g1) = results
    torch.testing.assert_close(y1, y0)
    assert_state_close(f1, f0)
    torch.testing.assert_close(gx1, gx0)
    for a, e in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, e)
    # each row alone, cut to its length, gives the same outputs and final state
    for b, n in enumerate(LENGTHS):
        y_b, f_b = layer(x[b : b + 1, :n])
        torch.testing.assert_close(y0[b : b + 1, :n], y_b)
        assert_state_close(select_rows(f0, torch.tensor([b])), f_b)


@pytest.mark.parametrize("cell", ["lstm", "hmrnn", "clockwork"])
def test_state_round_trip(cell: str, tmp_path: Path) -> None:
    layer = build(cell)
    x = torch.randn(B, T, D, dtype=F64)
    state = map_state(
        lambda t: 0.5 * torch.randn_like(t) if t.is_floating_point() else t,
        layer.initial_state(B, dtype=F64),
    )
    y, final = layer(x, state)
    for k in (1, T - 2):  # two chunks, carrying the state, equal one run
        y_a, s_a = layer(x[:, :k], state)
        y_b, s_b = layer(x[:, k:], s_a)
        torch.testing.assert_close(torch.cat([y_a, y_b], dim=1), y)
        assert_state_close(s_b, final)
    # the default initial state is the explicit one
    y0, f0 = layer(x)
    y1, f1 = layer(x, layer.initial_state(B, dtype=F64))
    assert torch.equal(y0, y1)
    assert_state_close(f0, f1, rtol=0, atol=0)
    # parameters round trip through safetensors
    path = tmp_path / "deep.safetensors"
    save_file({k: v.contiguous() for k, v in layer.state_dict().items()}, str(path))
    torch.manual_seed(1)
    fresh = build(cell)
    fresh.load_state_dict(load_file(str(path)), strict=True)
    assert torch.equal(fresh(x, state)[0], y)


def test_summary_is_each_layers_summary() -> None:
    layer = build("gru", bidirectional=True)
    x = torch.randn(B, T, D, dtype=F64)
    lengths = torch.tensor(LENGTHS)
    y, _ = layer(x, None, lengths)
    s = layer.summary(y, lengths)
    assert s.shape == (B, layer.output_size)
    parts = layer.layer_outputs(y)
    for l, sub in enumerate(layer.layers):
        assert isinstance(sub, Bidirectional)
        w = sub.output_size
        torch.testing.assert_close(s[:, l * w : (l + 1) * w], sub.summary(parts[l], lengths))
    model = Seq2Vec(layer, 5).to(F64)
    assert model(Batch(x, None, lengths))[0].shape == (B, 5)


def test_dropout_only_between_layers() -> None:
    layer = build_deep_stacked("lstm", D, H, num_layers=2, dropout=0.5).to(F64)
    x = torch.randn(B, T, D, dtype=F64)
    layer.eval()
    y_eval, _ = layer(x)
    layer.train()
    y_train, _ = layer(x)
    first = slice(0, H)  # the bottom layer reads x undropped
    torch.testing.assert_close(y_train[..., first], y_eval[..., first])
    assert not torch.allclose(y_train[..., H:], y_eval[..., H:])


def one_line_value_error(fn: Any, *needles: str) -> None:
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_errors() -> None:
    bottom = Recurrent(make_cell("gru", D, H))
    wrong: SequenceLayer = Recurrent(make_cell("gru", H, H))  # forgot the input skip
    one_line_value_error(lambda: DeepStacked([bottom, wrong]), "2 + 4 = 6", "got 4")
    one_line_value_error(lambda: DeepStacked([]), "at least one layer")
    one_line_value_error(lambda: DeepStacked([bottom], dropout=1.0), "dropout", "1.0")
    one_line_value_error(lambda: build_deep_stacked("gru", D, H, num_layers=0), "num_layers", "0")
    one_line_value_error(lambda: build_deep_stacked("gru", D, -1), "hidden_size", "-1")
    layer = build_deep_stacked("gru", D, H)
    one_line_value_error(lambda: layer(torch.randn(B, T, D + 1)), "expected 2")


def test_layer_trajectories_equal_forward() -> None:
    layer = build("gru")
    x = torch.randn(B, T, D, dtype=F64)
    lengths = torch.tensor(LENGTHS)
    y, final = layer(x, None, lengths)
    y_traj, final_traj, trajectories = layer_trajectories(layer, x, None, lengths)
    torch.testing.assert_close(y_traj, y)
    for a, b in zip(leaves(final_traj), leaves(final), strict=True):
        torch.testing.assert_close(a, b)
    assert len(trajectories) == 3 and all(len(tr.states) == T for tr in trajectories)
    # each layer's last real state is its final state
    for tr, s in zip(trajectories, final.layers, strict=True):
        torch.testing.assert_close(tr.states[-1].h, s.h)
    with pytest.raises(ValueError, match="Bidirectional does not expose per-step states"):
        layer_trajectories(build("gru", bidirectional=True), x)
