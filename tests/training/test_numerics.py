"""Numerical faults: a NaN/Inf loss or gradient stops the run at its step (or is skipped),
nothing non-finite is saved or selected as best, and every JSON file is strict JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab._io import json_line, write_json
from rnnlab.cli import main
from rnnlab.training import objectives
from rnnlab.training.numerics import NonFiniteError


def _config(steps: int = 30, **train: Any) -> RunConfig:
    return RunConfig(
        task="copy",
        task_options=TaskOptions(T=5),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(steps=steps, batch_size=8, eval_every=5, **train),
    )


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _assert_strict_json_files(run: Path) -> None:
    for name in ("config.json", "summary.json", "clipping.json"):
        if (run / name).exists():
            _strict((run / name).read_text())
    if (run / "metrics.jsonl").exists():
        for line in (run / "metrics.jsonl").read_text().splitlines():
            _strict(line)


def _assert_finite_checkpoints(run: Path) -> None:
    for name in ("best.safetensors", "last.safetensors"):
        for key, t in load_file(str(run / name)).items():
            assert torch.isfinite(t).all(), f"{name}: {key} is not finite"
    state = torch.load(run / "trainer.pt", weights_only=True)
    for key, t in state["model"].items():
        assert torch.isfinite(t).all(), f"trainer.pt: {key} is not finite"


def _plant(monkeypatch: pytest.MonkeyPatch, where: str, at_steps: set[int]) -> None:
    """Make teacher forcing's loss (``where="loss"``) or only its gradient
    (``where="grad"``) non-finite at the given 0-based steps."""
    original = objectives.TeacherForcing.forward

    def forward(self: Any, batch: Any, state: Any, step: int) -> Any:
        out = original(self, batch, state, step)
        if step not in at_steps:
            return out
        if where == "loss":
            loss = out.loss * float("nan")
            return objectives.ObjectiveStep(loss, loss, out.state)
        loss = out.loss.clone()
        loss.register_hook(lambda g: g * float("inf"))
        return objectives.ObjectiveStep(out.loss, loss, out.state)

    monkeypatch.setattr(objectives.TeacherForcing, "forward", forward)


@pytest.mark.parametrize(("where", "what"), [("loss", "loss"), ("grad", "gradient")])
def test_a_fault_stops_at_its_step_and_saves_nothing_non_finite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, what: str
) -> None:
    _plant(monkeypatch, where, {12})  # the 13th step
    with pytest.raises(NonFiniteError, match=rf"non-finite {what} .*at step 13$"):
        rnnlab.train(_config(), tmp_path, progress=False)
    summary = _strict((tmp_path / "summary.json").read_text())
    assert summary["stopped"] == "diverged" and "step 13" in summary["fault"]
    state = torch.load(tmp_path / "trainer.pt", weights_only=True)
    assert state["step"] == 10  # the last checkpoint before the fault, not overwritten
    _assert_finite_checkpoints(tmp_path)
    _assert_strict_json_files(tmp_path)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
    assert max(steps) == 10


def test_skip_drops_the_step_and_halves_the_learning_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(monkeypatch, "loss", {3, 7})
    summary = rnnlab.train(_config(steps=10, on_nan="skip", nan_skips=2), tmp_path, progress=False)
    assert summary["stopped"] == "steps" and summary["steps"] == 10
    trains = [
        r for r in map(json.loads, (tmp_path / "metrics.jsonl").open()) if r["split"] == "train"
    ]
    assert [r.get("skipped_steps", 0) for r in trains] == [1, 1]
    assert trains[0]["lr"] == pytest.approx(1e-3 / 2) and trains[1]["lr"] == pytest.approx(1e-3 / 4)
    assert all(math.isfinite(r["loss"]) for r in trains)  # the skipped losses are left out
    _assert_finite_checkpoints(tmp_path)
    # one fault more than allowed stops the run
    with pytest.raises(NonFiniteError, match=r"at step 8$"):
        rnnlab.train(_config(steps=10, on_nan="skip", nan_skips=1), tmp_path / "b", progress=False)


def test_a_skipped_step_leaves_the_weights_and_optimiser_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping step 5 of 5 ends with the weights of step 4 (Adam's state unchanged)."""
    rnnlab.train(_config(steps=4), tmp_path / "four", progress=False)
    _plant(monkeypatch, "grad", {4})
    rnnlab.train(_config(steps=5, on_nan="skip"), tmp_path / "five", progress=False)
    four = torch.load(tmp_path / "four" / "trainer.pt", weights_only=True)
    five = torch.load(tmp_path / "five" / "trainer.pt", weights_only=True)
    for key, w in four["model"].items():
        assert torch.equal(w, five["model"][key]), key
    assert five["skipped_steps"] == 1 and five["lr_scale"] == 0.5


def test_a_diverging_cli_run_exits_non_zero_with_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "copy", "--T", "5", "--hidden", "8", "--batch-size", "8", "--steps", "40"]
    argv += ["--eval-every", "5", "--optimizer", "sgd", "--lr", "1e38", "--no-clip"]
    code = main([*argv, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "at step" in err and "non-finite" in err, err
    assert _strict((out / "summary.json").read_text())["stopped"] == "diverged"
    _assert_strict_json_files(out)
    if (out / "trainer.pt").exists():
        _assert_finite_checkpoints(out)
    if (out / "best.safetensors").exists():
        for t in load_file(str(out / "best.safetensors")).values():
            assert torch.isfinite(t).all()


def test_json_files_write_non_finite_numbers_as_null(tmp_path: Path) -> None:
    data = {"a": float("nan"), "b": [1.0, float("inf"), (float("-inf"), 2)], "c": "NaN"}
    write_json(tmp_path / "x.json", data)
    want = {"a": None, "b": [1.0, None, [None, 2]], "c": "NaN"}
    assert _strict((tmp_path / "x.json").read_text()) == want
    assert _strict(json_line(data)) == want


def test_on_nan_values_are_checked() -> None:
    with pytest.raises(ValueError, match="on_nan"):
        TrainConfig(on_nan="ignore")
    with pytest.raises(ValueError, match="nan_skips"):
        TrainConfig(nan_skips=0)
