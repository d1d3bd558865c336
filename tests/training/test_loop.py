"""The training loop: run folder contents, early stopping, time budget, resume, loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.cells import HMRNNCell
from rnnlab.training.checkpoint import CheckpointError


def tiny_config(steps: int = 30, **train: object) -> RunConfig:
    return RunConfig(
        task="copy",
        task_options=TaskOptions(T=5),
        model=RNNConfig(cell="gru", hidden_size=16),
        train=TrainConfig(steps=steps, batch_size=16, eval_every=10, **train),  # type: ignore[arg-type]
    )


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_folder_contents(tmp_path: Path) -> None:
    summary = rnnlab.train(tiny_config(), tmp_path, progress=False)
    for name in ("config.json", "metrics.jsonl", "summary.json", "best.safetensors"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    for key in ("task", "model", "params", "steps", "wall_time_s", "baseline", "metrics"):
        assert key in saved
    assert set(saved["metrics"]) == {"val", "test"}
    assert set(saved["metrics"]["test"]) == {"loss", "ce", "accuracy"}
    assert saved["baseline"] == pytest.approx(10 * torch.log(torch.tensor(8.0)).item() / 25)
    lines = read_lines(tmp_path / "metrics.jsonl")
    vals = [r for r in lines if r["split"] == "val"]
    assert [r["step"] for r in vals] == [10, 20, 30]
    trains = [r for r in lines if r["split"] == "train"]
    assert all("grad_norm" in r and "clipped_fraction" in r for r in trains)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train"]["steps"] == 30 and config["task_info"]["kind"] == "tag"


def test_best_checkpoint_is_the_best_val(tmp_path: Path) -> None:
    summary = rnnlab.train(tiny_config(steps=40), tmp_path, progress=False)
    vals = [r for r in read_lines(tmp_path / "metrics.jsonl") if r["split"] == "val"]
    best = min(vals, key=lambda r: r["ce"])
    assert summary["best_step"] == best["step"]
    assert summary["metrics"]["val"]["ce"] == pytest.approx(best["ce"], rel=1e-5)


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    full = rnnlab.train(tiny_config(steps=40), tmp_path / "full", progress=False)
    rnnlab.train(tiny_config(steps=20), tmp_path / "split", progress=False)
    resumed = rnnlab.train(tiny_config(steps=40), tmp_path / "split", resume=True, progress=False)
    assert resumed["steps"] == 40
    assert resumed["metrics"]["test"]["ce"] == pytest.approx(
        full["metrics"]["test"]["ce"], rel=1e-5
    )


def test_max_time_and_early_stopping(tmp_path: Path) -> None:
    summary = rnnlab.train(tiny_config(steps=10_000, max_time=0.5), tmp_path / "t", progress=False)
    assert summary["stopped"] == "max_time"
    assert summary["wall_time_s"] < 2.0
    # the weights reached when the time ran out are evaluated too
    lines = read_lines(tmp_path / "t" / "metrics.jsonl")
    vals = [r for r in lines if r["split"] == "val"]
    assert vals[-1]["step"] == summary["steps"]
    # ... and the steps since the last evaluation get their train line (loss, lr, ...)
    trains = [r for r in lines if r["split"] == "train"]
    assert trains[-1]["step"] == summary["steps"] and "loss" in trains[-1]
    summary = rnnlab.train(
        tiny_config(steps=10_000, patience=1, lr=1e-9), tmp_path / "p", progress=False
    )
    assert summary["stopped"] == "early_stopping"


def test_clipping_statistics(tmp_path: Path) -> None:
    summary = rnnlab.train(tiny_config(clip=1e-6), tmp_path, progress=False)
    assert summary["clipped_fraction"] == 1.0
    trains = [r for r in read_lines(tmp_path / "metrics.jsonl") if r["split"] == "train"]
    assert all(r["grad_norm"] > 1e-6 and r["clipped_fraction"] == 1.0 for r in trains)


def test_load_predicts(tmp_path: Path) -> None:
    rnnlab.train(tiny_config(), tmp_path, progress=False)
    run = rnnlab.load(tmp_path)
    task = rnnlab.build_task("copy", TaskOptions(T=5))
    x = task.split("test").x[:3]
    tags = run.predict(x)
    assert tags.shape == (3, 25) and tags.dtype == torch.long
    assert run.outputs(x.numpy()).shape == (3, 25, 9)


def test_corrupt_checkpoint_is_one_line_error(tmp_path: Path) -> None:
    rnnlab.train(tiny_config(steps=10), tmp_path, progress=False)
    (tmp_path / "best.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt checkpoint"):
        rnnlab.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rnnlab.load(tmp_path / "missing")


def test_bad_train_config_values() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="adagrad")
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)


def test_hmrnn_slope_anneals_over_the_time_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slopes: list[float] = []
    original = HMRNNCell.set_slope

    def record(self: HMRNNCell, slope: float) -> None:
        slopes.append(slope)
        original(self, slope)

    monkeypatch.setattr(HMRNNCell, "set_slope", record)
    config = RunConfig(
        task="copy",
        task_options=TaskOptions(T=2),
        model=RNNConfig(cell="hmrnn", hidden_size=4),
        train=TrainConfig(steps=10**6, batch_size=4, eval_every=10**6, max_time=0.4),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    # one call when the cell is built, then one per training step
    assert summary["stopped"] == "max_time" and summary["steps"] == len(slopes) - 1
    # 1 + 4 * (fraction of the budget used): far from the 1 of step / steps = 10^-5
    assert slopes[0] == 1.0 and slopes == sorted(slopes)
    assert 3.0 < slopes[-1] <= 5.0


def test_val_of_the_best_weights_is_measured_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final summary reuses the best evaluation's val metrics instead of measuring the
    same weights on the same text again (a language model's val text can take seconds)."""
    from rnnlab.tasks.registry import build_task

    config = tiny_config(steps=30)
    task = build_task(config.task, config.task_options)
    calls: list[str] = []
    real = task.evaluate

    def counting(split: str, evaluator: object) -> dict[str, float]:
        calls.append(split)
        return real(split, evaluator)  # type: ignore[arg-type]

    monkeypatch.setattr(task, "evaluate", counting)
    summary = rnnlab.train(config, tmp_path, progress=False, task=task)
    assert calls == ["val", "val", "val", "test"]  # steps 10, 20, 30, then test once
    vals = [r for r in read_lines(tmp_path / "metrics.jsonl") if r["split"] == "val"]
    best = next(r for r in vals if r["step"] == summary["best_step"])
    assert summary["metrics"]["val"] == {k: best[k] for k in summary["metrics"]["val"]}


def test_a_time_budget_without_steps_is_not_cut_by_the_task_default() -> None:
    """``--max-time`` alone: time ends the run (the copy task's default steps would end it
    first); with ``--steps`` too, both bound it."""
    from rnnlab.tasks.registry import build_task
    from rnnlab.training.config import UNBOUNDED_STEPS
    from rnnlab.training.resolve import resolve_config

    task = build_task("copy", TaskOptions(T=5))
    default = resolve_config("copy", task, TaskOptions(T=5), {"model": "gru"}, {})
    timed = resolve_config("copy", task, TaskOptions(T=5), {"model": "gru"}, {"max_time": 5.0})
    both = resolve_config(
        "copy", task, TaskOptions(T=5), {"model": "gru"}, {"max_time": 5.0, "steps": 7}
    )
    assert default.train.steps == task.defaults["steps"] < UNBOUNDED_STEPS
    assert timed.train.steps == UNBOUNDED_STEPS and timed.train.max_time == 5.0
    assert both.train.steps == 7


def test_max_time_alone_from_the_command_line(tmp_path: Path) -> None:
    from rnnlab.cli import main
    from rnnlab.training.config import UNBOUNDED_STEPS

    out = tmp_path / "run"
    argv = ["train", "copy", "--T", "3", "--hidden", "8", "--batch-size", "4", "--quiet"]
    assert main([*argv, "--max-time", "0.5", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["stopped"] == "max_time"
    assert json.loads((out / "config.json").read_text())["train"]["steps"] == UNBOUNDED_STEPS
