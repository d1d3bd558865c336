"""Gradient flow and Jacobian spectra on cases with known answers, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn

from rnnlab.cells.base import Cell
from rnnlab.cli import main
from rnnlab.diagnostics import gradient_flow, jacobian_spectrum
from rnnlab.layers import Recurrent, build_layers
from rnnlab.models import Seq2Vec, Tagger
from rnnlab.tasks import AddingTask, CopyTask


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


def test_gated_cells_keep_more_gradient_than_elman() -> None:
    task = CopyTask(T=60)
    batch = task.split("val").rows(slice(0, 8))
    ratios = {}
    for cell in ("elman", "lstm"):
        torch.manual_seed(0)
        model = Tagger(build_layers(cell, 10, 32), 9)
        ratios[cell] = gradient_flow(model, task, batch).ratio_first_last
    assert ratios["lstm"] > 1e3 * ratios["elman"]


def test_gradient_flow_needs_a_single_recurrent_layer() -> None:
    model = Tagger(build_layers("gru", 10, 8, num_layers=2), 9)
    task = CopyTask(T=5)
    with pytest.raises(ValueError, match="single Recurrent layer, got Stacked"):
        gradient_flow(model, task, task.split("val").rows(slice(0, 2)))


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
