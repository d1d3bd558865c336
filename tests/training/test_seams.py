"""The training loop's seams: schedules on the run's progress (steps or time), one
checkpoint unit per resume, cell options from the config, the model-family registry."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.cli import main
from rnnlab.models import BagConfig, build_model, family_names, register_model
from rnnlab.tasks.spec import TaskSpec
from rnnlab.training.optim import lr_factor, run_progress


def _config(steps: int = 20, **train: object) -> RunConfig:
    return RunConfig(
        task="copy",
        task_options=TaskOptions(T=5),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(steps=steps, batch_size=8, eval_every=10, **train),  # type: ignore[arg-type]
    )


def test_the_schedule_runs_on_the_larger_of_steps_and_time() -> None:
    cfg = TrainConfig(steps=1000, schedule="cosine", max_time=10.0)
    assert run_progress(100, 9.0, cfg) == pytest.approx(0.9)  # time is further along
    assert run_progress(900, 1.0, cfg) == pytest.approx(0.9)  # steps are
    assert run_progress(10, 30.0, cfg) == 1.0
    assert lr_factor(100, cfg, time_fraction=0.9) == pytest.approx(
        0.5 * (1 + math.cos(0.9 * math.pi))
    )
    assert lr_factor(100, cfg) == pytest.approx(0.5 * (1 + math.cos(0.1 * math.pi)))
    assert lr_factor(100, TrainConfig(steps=1000, schedule="linear"), 0.25) == pytest.approx(0.75)


def test_a_time_budgeted_run_decays_its_learning_rate(tmp_path: Path) -> None:
    config = _config(steps=10**6, schedule="cosine", lr=1e-2, max_time=1.0)
    config = RunConfig(
        config.task,
        config.task_options,
        config.model,
        TrainConfig(**{**config.train.__dict__, "eval_every": 5}),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    assert summary["stopped"] == "max_time" and summary["steps"] < 10**5
    lrs = [
        json.loads(line)["lr"]
        for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["split"] == "train"
    ]
    # counted in steps, the cosine would still be at ~1e-2; counted in time it nears 0
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 2e-3


def test_resume_reads_one_checkpoint_unit(tmp_path: Path) -> None:
    full = rnnlab.train(_config(steps=20), tmp_path / "full", progress=False)
    split = tmp_path / "split"
    rnnlab.train(_config(steps=10), split, progress=False)
    assert "model" in torch.load(split / "trainer.pt", weights_only=True)
    # a later, unfinished write of last.safetensors must not leak into the resume
    (split / "last.safetensors").write_bytes(b"half a file")
    resumed = rnnlab.train(_config(steps=20), split, resume=True, progress=False)
    assert resumed["metrics"] == full["metrics"]


def test_cell_options_reach_the_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = [
        "train",
        "copy",
        "--model",
        "vd_lstm",
        "--cell-option",
        "p=0.5",
        "--T",
        "4",
        "--hidden",
        "8",
        "--steps",
        "2",
        "--eval-every",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    assert json.loads((out / "config.json").read_text())["model"]["cell_options"] == {"p": 0.5}
    assert rnnlab.load(out).model.layers.cell.p == 0.5
    capsys.readouterr()
    assert main([*argv[:4], "--cell-option", "q=1", *argv[6:]]) == 2
    assert "cell 'vd_lstm' has no option 'q'; its options: p" in capsys.readouterr().err


def test_a_flag_of_another_family_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "mnist1d", "--model", "bag", "--layers", "2", "--steps", "1"]) == 2
    assert "--layers does not apply to model family 'bag'" in capsys.readouterr().err


def test_a_family_registered_from_python_trains_and_loads(tmp_path: Path) -> None:
    """The recipe of ARCHITECTURE.md: a config dataclass, a builder, one register call."""
    if "test_bag2" not in family_names():
        register_model("test_bag2", "bag under another name (tests)", BagConfig2, _build_bag2)
    config = RunConfig(
        "mnist1d",
        model=BagConfig2(hidden_size=8),
        train=TrainConfig(steps=2, batch_size=8, eval_every=2),
    )
    rnnlab.train(config, tmp_path, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["family"] == "test_bag2"
    assert type(rnnlab.load(tmp_path).model).__name__ == "BagOfEmbeddings"


class BagConfig2(BagConfig):
    pass


def _build_bag2(config: BagConfig2, spec: TaskSpec) -> torch.nn.Module:
    return build_model(BagConfig(config.hidden_size, config.dropout), spec)
