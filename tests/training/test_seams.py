"""The training loop's seams: schedules on the run's progress (steps or time), one
checkpoint unit per resume, cell options from the config, the model-family registry."""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab._config import option
from rnnlab.cli import main
from rnnlab.models import BagConfig, build_model, family_names, register_model, registry
from rnnlab.tasks.base import GeneratedTask
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


def test_a_family_registered_from_python_trains_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe of ARCHITECTURE.md: a config dataclass, a builder, one register call."""
    monkeypatch.setattr(registry, "_FAMILIES", registry._FAMILIES.copy())  # undone after
    register_model("test_bag2", "bag under another name (tests)", BagConfig2, _build_bag2)
    assert "test_bag2" in family_names()
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


class StoryBatch(NamedTuple):
    """A batch of a task with its own layout (as memory networks will have)."""

    story: Tensor  # (B, S, D) float
    query: Tensor  # (B, D) float
    y: Tensor  # (B,) long: which story sentence matches the query


class StoryTask(GeneratedTask):
    """Find the sentence of the story that equals the query (a toy of bAbI's layout)."""

    name = "test_story"
    description = "find the story sentence equal to the query (tests)"
    kind, input_size, output_size = "classify", 6, 5
    main_metric, higher_is_better, baseline = "accuracy", True, 0.2

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Any:
        story = torch.randn(batch_size, 5, 6, generator=generator)
        y = torch.randint(5, (batch_size,), generator=generator)
        return StoryBatch(story, story[torch.arange(batch_size), y], y)

    def loss(self, out: Tensor, batch: Any) -> Tensor:
        return torch.nn.functional.cross_entropy(out, batch.y)

    def metrics(self, out: Tensor, batch: Any) -> dict[str, float]:
        accuracy = float((out.argmax(-1) == batch.y).float().mean())
        return {"loss": float(self.loss(out, batch)), "accuracy": accuracy}


@dataclass(frozen=True)
class AttendConfig:
    width: int = option(8, flag="width", help="key width")


class Attend(torch.nn.Module):
    """Scores each story sentence against the query: the logits of the answer."""

    causal = False

    def __init__(self, size: int, width: int) -> None:
        super().__init__()
        self.keys = torch.nn.Linear(size, width)
        self.queries = torch.nn.Linear(size, width)

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        keys = self.keys(batch.story)  # (B, S, W)
        query = self.queries(batch.query).unsqueeze(-1)  # (B, W, 1)
        return (keys @ query).squeeze(-1), None  # (B, S)


def test_a_task_with_its_own_batch_type_trains_evaluates_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in the loop, the run folder or evaluation reads x/y/lengths: a task's own
    NamedTuple batch and a family that reads it need no change anywhere else."""
    monkeypatch.setattr(registry, "_FAMILIES", registry._FAMILIES.copy())
    register_model(
        "test_attend",
        "story attention (tests)",
        AttendConfig,
        lambda c, spec: Attend(spec.input_size, c.width),
    )
    config = RunConfig(
        "test_story",
        model=AttendConfig(width=8),
        train=TrainConfig(steps=150, batch_size=32, eval_every=50, lr=1e-2),
    )
    summary = rnnlab.train(config, tmp_path, progress=False, task=StoryTask())
    assert summary["metrics"]["test"]["accuracy"] > 0.8  # chance is 0.2
    run = rnnlab.load(tmp_path)
    val = StoryTask().split("val")
    outputs, _ = run.model(val)
    assert float((outputs.argmax(-1) == val.y).float().mean()) > 0.8


def test_a_family_whose_models_break_the_protocol_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_FAMILIES", registry._FAMILIES.copy())
    register_model(
        "test_no_causal",
        "a model without causal (tests)",
        AttendConfig,
        lambda c, spec: torch.nn.Linear(2, 2),
    )
    with pytest.raises(TypeError, match=r"'test_no_causal': build must return .* got Linear"):
        build_model(AttendConfig(), TaskSpec("classify", 2, 2))


def test_training_threads_follow_the_policy_and_are_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rnnlab.training.threads as policy

    seen: list[int] = []
    original = policy.training_threads

    def spy(requested: int | None, device: torch.device):  # type: ignore[no-untyped-def]
        with original(requested, device) as threads:
            seen.append(torch.get_num_threads())
            yield threads

    monkeypatch.setattr("rnnlab.training.loop.training_threads", contextlib.contextmanager(spy))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    monkeypatch.setattr(policy, "_AT_IMPORT", before)  # nobody set threads since import
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(policy, "_AT_IMPORT", 2)
        summary = rnnlab.train(_config(steps=2), tmp_path / "a", progress=False)
        assert summary["threads"] == {"intra_op": 1, "source": "rnnlab default for CPU training"}
        assert seen[-1] == 1 and torch.get_num_threads() == 2  # the caller's count is back
        config = json.loads((tmp_path / "a" / "config.json").read_text())
        assert config["threads"]["intra_op"] == 1
        torch.set_num_threads(3)  # the caller chose after importing rnnlab: respected
        summary = rnnlab.train(_config(steps=2), tmp_path / "b", progress=False)
        assert summary["threads"] == {"intra_op": 3, "source": "torch.set_num_threads"}
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert (
            rnnlab.train(_config(steps=2), tmp_path / "c", progress=False)["threads"]["source"]
            == "OMP_NUM_THREADS"
        )
        explicit = _config(steps=2)
        explicit = RunConfig(
            explicit.task,
            explicit.task_options,
            explicit.model,
            TrainConfig(**{**explicit.train.__dict__, "threads": 2}),
        )
        summary = rnnlab.train(explicit, tmp_path / "d", progress=False)
        assert summary["threads"] == {"intra_op": 2, "source": "threads option"} and seen[-1] == 2
    finally:
        torch.set_num_threads(before)


def test_a_text_that_is_both_val_and_test_is_evaluated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rnnlab.training.loop as loop

    splits: list[str] = []
    original = loop.evaluate

    def counting(model: Any, task: Any, split: str, **kw: Any) -> dict[str, float]:
        splits.append(split)
        return original(model, task, split, **kw)

    monkeypatch.setattr(loop, "evaluate", counting)
    corpus = tmp_path / "text.txt"
    corpus.write_text("the cat sat on the mat. " * 80)
    config = RunConfig(
        "charlm",
        TaskOptions(data=str(corpus), T=8),
        RNNConfig("gru", hidden_size=8),
        TrainConfig(steps=2, batch_size=4, eval_every=2),
    )
    summary = rnnlab.train(config, tmp_path / "run", progress=False)
    assert splits == ["val"]  # one evaluation in training, reused at the end; no "test"
    assert summary["metrics"]["test"] == summary["metrics"]["val"]
