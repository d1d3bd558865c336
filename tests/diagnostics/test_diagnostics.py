"""Gradient flow and Jacobian spectra on cases with known answers, and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn

from rnnlab.cells import ClockworkCell, ElmanCell
from rnnlab.cells.base import Cell, StatePart
from rnnlab.cli import main
from rnnlab.diagnostics import early_late_ratio, gradient_flow, jacobian_spectrum
from rnnlab.layers import Dilated, Recurrent, Stacked, build_layers
from rnnlab.models import Seq2Vec, Tagger
from rnnlab.tasks import AddingTask, CopyTask
from rnnlab.tasks.base import Batch


class LinearState(NamedTuple):
    h: Tensor


class LinearCell(Cell):
    """h_t = W h_{t-1} + U x_t with a fixed W: the textbook case."""

    def __init__(self, input_size: int, W: Tensor) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = self.output_size = W.shape[0]
        self.W = nn.Parameter(W.clone())
        self.U = nn.Linear(input_size, W.shape[0], bias=False)

    def initial_state(self, batch: int, *, device: Any = None, dtype: Any = None) -> LinearState:
        return LinearState(self._zeros(batch, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        return self.U(x)

    def step(self, p_t: Tensor, state: LinearState) -> tuple[Tensor, LinearState]:
        h = state.h @ self.W.t() + p_t
        return h, LinearState(h)


def test_linear_recurrence_halves_the_gradient_every_step() -> None:
    torch.manual_seed(0)
    task = AddingTask(T=30)
    model = Seq2Vec(Recurrent(LinearCell(2, 0.5 * torch.eye(6))), 1)
    flow = gradient_flow(model, task, task.split("val").rows(slice(0, 8)))
    assert len(flow.norms) == 30
    norms = torch.tensor(flow.norms, dtype=torch.float64)
    torch.testing.assert_close(norms[:-1] / norms[1:], torch.full((29,), 0.5, dtype=torch.float64))
    assert flow.ratio_first_last == pytest.approx(0.5**29, rel=1e-9)


def test_linear_recurrence_jacobian_spectra() -> None:
    Q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(0)))
    for W, factor in [(0.5 * torch.eye(5), 0.5), (Q, 1.0)]:
        model = Tagger(Recurrent(LinearCell(3, W)), 2)
        spectrum = jacobian_spectrum(model, torch.randn(12, 3))
        assert len(spectrum.step) == 12 and len(spectrum.step[0]) == 5
        for t, values in enumerate(spectrum.step, start=1):
            assert values == pytest.approx([factor] * 5, rel=1e-5)
            assert spectrum.product_max[t - 1] == pytest.approx(factor**t, rel=1e-5)
            assert spectrum.product_min[t - 1] == pytest.approx(factor**t, rel=1e-5)


class SplitLinearCell(LinearCell):
    """A LinearCell that names two parts of its state: units 0-1 and units 2-5."""

    def state_parts(self) -> list[StatePart]:
        return [StatePart("fast", 0, 2), StatePart("slow", 2, 4)]


def test_a_cell_with_state_parts_gets_per_part_gradient_flow() -> None:
    # W = diag(0.5, 0.5, 0.9, 0.9, 0.9, 0.9): dL/dh_t of each part shrinks by its own factor
    torch.manual_seed(0)
    task = AddingTask(T=12)
    W = torch.diag(torch.tensor([0.5, 0.5, 0.9, 0.9, 0.9, 0.9]))
    model = Seq2Vec(Recurrent(SplitLinearCell(2, W)), 1)
    flow = gradient_flow(model, task, task.split("val").rows(slice(0, 8)))
    assert list(flow.parts) == ["fast", "slow"]
    for name, factor in [("fast", 0.5), ("slow", 0.9)]:
        norms = torch.tensor(flow.parts[name].norms, dtype=torch.float64)
        torch.testing.assert_close(
            norms[:-1] / norms[1:], torch.full((11,), factor, dtype=torch.float64)
        )
    # the parts cover h: their squares add up to the whole state's
    for t in range(12):
        fast, slow = flow.parts["fast"].norms[t], flow.parts["slow"].norms[t]
        assert math.hypot(fast, slow) == pytest.approx(flow.norms[t], rel=1e-9)
    # a cell without parts reports none
    plain = gradient_flow(
        Seq2Vec(Recurrent(LinearCell(2, W)), 1), task, task.split("val").rows(slice(0, 8))
    )
    assert plain.parts == {}


def test_jacobian_spectrum_needs_one_layer_without_skips() -> None:
    W = 0.5 * torch.eye(4)
    skipping = Dilated(LinearCell(3, W), dilation=2)
    for layers in (skipping, build_layers("gru", 3, 4, num_layers=2)):
        with pytest.raises(ValueError, match=r"single Recurrent layer, got (Dilated|Stacked)"):
            jacobian_spectrum(Tagger(layers, 2), torch.randn(5, 3))
    one_step = Tagger(Dilated(LinearCell(3, W), dilation=1), 2)  # no skip: steps like Recurrent
    spectrum = jacobian_spectrum(one_step, torch.randn(5, 3))
    assert spectrum.product_max[-1] == pytest.approx(0.5**5, rel=1e-5)


def test_gated_cells_keep_more_gradient_than_elman() -> None:
    task = CopyTask(T=60)
    batch = task.split("val").rows(slice(0, 8))
    ratios = {}
    for cell in ("elman", "lstm"):
        torch.manual_seed(0)
        model = Tagger(build_layers(cell, 10, 32), 9)
        ratios[cell] = gradient_flow(model, task, batch).ratio_first_last
    assert ratios["lstm"] > 1e3 * ratios["elman"]


def test_gradient_flow_rejects_layers_without_per_step_states() -> None:
    model = Tagger(build_layers("gru", 10, 8, bidirectional=True), 9)
    task = CopyTask(T=5)
    with pytest.raises(ValueError, match="Bidirectional does not expose per-step states"):
        gradient_flow(model, task, task.split("val").rows(slice(0, 2)))


def test_dilated_linear_recurrence_halves_the_gradient_every_d_steps() -> None:
    # y = head(h_T), h_t = 0.5 h_{t-d} + U x_t: dL/dh_t = 0.5^k dL/dh_T for t = T - k d, and 0
    # on the other chains
    torch.manual_seed(0)
    T, d = 11, 3
    task = AddingTask(T=T)
    model = Seq2Vec(Dilated(LinearCell(2, 0.5 * torch.eye(4)), dilation=d), 1)
    flow = gradient_flow(model, task, task.split("val").rows(slice(0, 8)))
    last = flow.norms[-1]
    expected = [0.5 ** ((T - 1 - t) // d) if (T - 1 - t) % d == 0 else 0.0 for t in range(T)]
    assert [v / last for v in flow.norms] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert list(flow.layers) == ["layer 1 (d=3)"] and not flow.parts


def test_early_late_ratio() -> None:
    # 20 steps: the first and last two; step 1 alone may be off the loss's paths
    norms = [0.0, 2.0, *([9.0] * 16), 4.0, 4.0]
    assert early_late_ratio(norms) == 0.25
    assert early_late_ratio([3.0, 6.0]) == 0.5 and early_late_ratio([1.0, 0.0]) == math.inf


def _by_hand(model: Tagger, task: CopyTask, batch: Batch) -> tuple[list[Tensor], list[Tensor]]:
    """dL/dh_t of both layers of a clockwork -> dilated(d=2) Elman stack, by autograd on zero
    probes added to every h_t of a hand-written unroll (the cells' own forward, a ring of
    d states for the dilated layer): dL/d(probe_t) = dL/dh_t."""
    clockwork, dilated = (layer.cell for layer in model.layers.layers)  # type: ignore[union-attr]
    x = batch.x
    B, T, _ = x.shape
    probes1 = [torch.zeros(B, clockwork.hidden_size, requires_grad=True) for _ in range(T)]
    probes2 = [torch.zeros(B, dilated.hidden_size, requires_grad=True) for _ in range(T)]
    state = clockwork.initial_state(B)
    h1 = []
    for t in range(T):
        _, state = clockwork(x[:, t], state)
        state = state._replace(h=state.h + probes1[t])
        h1.append(state.h)  # y_t = h_t
    ring = [dilated.initial_state(B), dilated.initial_state(B)]
    h2 = []
    for t in range(T):
        _, s = dilated(h1[t], ring[t % 2])
        s = s._replace(h=s.h + probes2[t])
        ring[t % 2] = s
        h2.append(s.h)
    loss = task.dependency_loss(model.head(torch.stack(h2, dim=1)), batch)
    grads = torch.autograd.grad(loss, probes1 + probes2)
    return list(grads[:T]), list(grads[T:])


def test_per_layer_and_per_module_norms_equal_autograd_by_hand() -> None:
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        task = CopyTask(T=4)
        stack = Stacked(
            [Recurrent(ClockworkCell(10, 8, num_modules=4)), Dilated(ElmanCell(8, 6), 2)]
        )
        model = Tagger(stack, 9)
        batch = task.split("val").rows(slice(0, 3))
        batch = Batch(batch.x.double(), batch.y, batch.lengths)
        flow = gradient_flow(model, task, batch)
        g1, g2 = _by_hand(model, task, batch)
    finally:
        torch.set_default_dtype(torch.float32)
    n1 = [float(g.norm()) for g in g1]
    n2 = [float(g.norm()) for g in g2]
    assert list(flow.layers) == ["layer 1", "layer 2 (d=2)"]
    assert flow.layers["layer 1"].norms == pytest.approx(n1, rel=1e-9)
    assert flow.layers["layer 2 (d=2)"].norms == pytest.approx(n2, rel=1e-9)
    whole = [math.hypot(a, b) for a, b in zip(n1, n2, strict=True)]
    assert flow.norms == pytest.approx(whole, rel=1e-9)
    assert flow.ratio_first_last == pytest.approx(whole[0] / whole[-1], rel=1e-9)
    periods = [1, 2, 4, 8]
    assert list(flow.parts) == [
        f"layer 1: module {i + 1} (period {p})" for i, p in enumerate(periods)
    ]
    for i, p in enumerate(periods):
        module = [float(g[:, 2 * i : 2 * i + 2].norm()) for g in g1]
        assert flow.parts[f"layer 1: module {i + 1} (period {p})"].norms == pytest.approx(
            module, rel=1e-9, abs=1e-300
        )
    assert min(n1) > 0 and min(n2[:-1]) > 0


def test_diagnose_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "diag"
    argv = [
        "diagnose",
        "gradflow",
        "--models",
        "elman,gru",
        "--task",
        "copy",
        "--T",
        "20",
        "--hidden",
        "8",
        "--rows",
        "4",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    data = json.loads((out / "gradflow.json").read_text())
    assert set(data) == {"elman (init)", "gru (init)"}
    for entry in data.values():
        assert len(entry["norms"]) == 40
        assert entry["ratio_first_last"] == pytest.approx(entry["norms"][0] / entry["norms"][-1])
    assert (out / "gradflow.png").stat().st_size > 1000

    argv = [
        "diagnose",
        "jacobian",
        "--models",
        "lstm",
        "--T",
        "5",
        "--hidden",
        "4",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    spectra = json.loads((out / "jacobian.json").read_text())["lstm (init)"]
    assert len(spectra["step_singular_values"]) == 25 and len(spectra["product_max"]) == 25
    assert (out / "jacobian.png").is_file()


def test_diagnose_trained_run_and_clipping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = str(tmp_path / "run")
    main(
        [
            "train",
            "adding",
            "--T",
            "8",
            "--hidden",
            "8",
            "--steps",
            "20",
            "--eval-every",
            "10",
            "--clip",
            "0.01",
            "--out",
            run,
            "--quiet",
        ]
    )
    clipping = json.loads((tmp_path / "run" / "clipping.json").read_text())
    assert len(clipping["grad_norm"]) == 20 and clipping["clip"] == 0.01
    out = tmp_path / "diag"
    assert main(["diagnose", "gradflow", "--run", run, "--out", str(out)]) == 0
    data = json.loads((out / "gradflow.json").read_text())
    assert len(next(iter(data.values()))["norms"]) == 8
    assert main(["diagnose", "clipping", "--run", run, "--out", str(out)]) == 0
    stats = json.loads((out / "clipping_stats.json").read_text())
    assert stats["steps"] == 20 and stats["clipped_fraction"] == pytest.approx(
        sum(n > 0.01 for n in clipping["grad_norm"]) / 20
    )
    assert (out / "clipping.png").is_file()


def test_diagnose_cli_layers_and_modules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "diag"
    base = ["diagnose", "gradflow", "--task", "copy", "--T", "6", "--rows", "2", "--out", str(out)]
    argv = [*base, "--models", "elman,clockwork,dilated", "--cell", "elman", "--hidden", "8,8,4"]
    assert main(argv) == 0
    data = json.loads((out / "gradflow.json").read_text())
    assert list(data) == ["elman (init)", "clockwork (init)", "dilated(elman) (init)"]
    dilated = data["dilated(elman) (init)"]
    assert list(dilated["layers"]) == ["layer 1", "layer 2 (d=2)", "layer 3 (d=4)", "layer 4 (d=8)"]
    for curve in dilated["layers"].values():
        assert len(curve["norms"]) == 26
        assert curve["ratio_early_late"] == pytest.approx(early_late_ratio(curve["norms"]))
    # W_ih, W_hh, b_ih, b_hh of 4 Elman layers (input 10, then 4), and the 9-way head
    assert dilated["params"] == (4 * 10 + 16 + 8) + 3 * (16 + 16 + 8) + 9 * (4 + 1)
    parts = data["clockwork (init)"]["parts"]
    assert list(parts) == [f"module {i + 1} (period {2**i})" for i in range(8)]
    assert data["elman (init)"]["parts"] == {}
    printed = capsys.readouterr().out
    assert "module 8 (period 128)" in printed and "layer 4 (d=8)" in printed
    assert (out / "gradflow.png").stat().st_size > 1000

    # dilations give the dilated stack's depth; one --layers value applies to every model
    argv = [*base, "--models", "dilated", "--cell", "gru", "--hidden", "4", "--dilations", "1,3"]
    assert main(argv) == 0
    layers = json.loads((out / "gradflow.json").read_text())["dilated(gru) (init)"]["layers"]
    assert list(layers) == ["layer 1", "layer 2 (d=3)"]
    assert main([*base, "--models", "gru", "--hidden", "4", "--layers", "2"]) == 0
    assert len(json.loads((out / "gradflow.json").read_text())["gru (init)"]["layers"]) == 2

    capsys.readouterr()
    assert (
        main([*base, "--models", "elman,clockwork,dilated", "--cell", "gru", "--hidden", "8,4"])
        == 2
    )
    assert "--hidden gives 2 values for 3 models" in capsys.readouterr().err
    assert main([*base, "--models", "dilated"]) == 2
    assert "give one with --cell" in capsys.readouterr().err
