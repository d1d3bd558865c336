"""Exact resume: a run interrupted at any write and resumed with ``resume=True`` ends with the
weights, best weights and metrics of the uninterrupted run (max |diff| == 0), for every kind
of training; flags that conflict with the run are refused."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab._io import json_line
from rnnlab.cli import main
from rnnlab.memory import GGNNConfig, MemN2NConfig
from rnnlab.models.transformer import TransformerConfig
from rnnlab.training import checkpoint as checkpoint_module
from rnnlab.training import run_folder


class Killed(BaseException):
    """A kill: nothing in rnnlab catches it, and nothing is cleaned up."""


def _corpus(tmp_path: Path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"the cat {i % 7} sat on the mat.\n" for i in range(400)))
    return str(path)


def _configs(tmp_path: Path) -> dict[str, Callable[[int], RunConfig]]:
    gru = RNNConfig(cell="gru", hidden_size=8)

    def make(task: str, options: TaskOptions, model: Any = gru, **train: Any) -> Any:
        def config(steps: int) -> RunConfig:
            fields = {"batch_size": 4, "eval_every": 3, "eval_batch_size": 16, **train}
            return RunConfig(task, options, model, TrainConfig(steps=steps, **fields))

        return config

    corpus = _corpus(tmp_path)
    return {
        "copy": make("copy", TaskOptions(T=4)),
        "charlm": make("charlm", TaskOptions(T=8, data=corpus)),
        "charlm-scheduled-sampling": make(
            "charlm", TaskOptions(T=8, data=corpus), scheduled_sampling="linear", ss_c=0.05
        ),
        "seq2seq": make(
            "reverse", TaskOptions(T=4), RNNConfig(cell="gru", hidden_size=8, embedding_size=4)
        ),
        "vec2seq": make("code2seq", TaskOptions()),
        "professor-forcing": make(
            "hmm",
            TaskOptions(T=6),
            professor_forcing=True,
            pf_hidden=4,
            pf_mlp=4,
            pf_g_min_acc=0.0,
        ),
        # the wave-2 families: a carried key/value cache, a task with its own batch type, a
        # memory cell, a scan cell
        "transformer-charlm": make(
            "charlm",
            TaskOptions(T=8, data=corpus),
            TransformerConfig(num_layers=1, num_heads=2, hidden_size=8, max_length=16),
        ),
        "memn2n": lambda steps: make(  # the data folder is looked up (or skipped) lazily
            "babi", TaskOptions(data=_babi_folder(), task_id="1"), MemN2NConfig(hidden_size=8)
        )(steps),
        "ggnn": make("graph-path", TaskOptions(), GGNNConfig(hidden_size=6, prop_steps=2)),
        "ntm": make(
            "ntm-copy",
            TaskOptions(T=3),
            RNNConfig(
                cell="ntm", hidden_size=8, cell_options={"memory_slots": 6, "memory_width": 4}
            ),
        ),
        "lru": make("copy", TaskOptions(T=4), RNNConfig(cell="lru", hidden_size=8)),
    }


def _babi_folder() -> str:
    """The shared bAbI folder (en 1k), or a skip where it is absent."""
    folder = Path(__file__).resolve().parents[3] / "shared" / "data" / "babi"
    if not folder.is_dir():
        pytest.skip(f"no bAbI data at {folder}")
    return str(folder)


FAMILIES = (
    "copy",
    "charlm",
    "charlm-scheduled-sampling",
    "seq2seq",
    "vec2seq",
    "professor-forcing",
    "transformer-charlm",
    "memn2n",
    "ggnn",
    "ntm",
    "lru",
)


def _metrics(run: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "train_time_s"} for r in lines]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _assert_same_run(full: Path, resumed: Path) -> None:
    a = torch.load(full / "trainer.pt", weights_only=True)
    b = torch.load(resumed / "trainer.pt", weights_only=True)
    assert a["step"] == b["step"]
    assert _max_diff(a["model"], b["model"]) == 0.0
    for name in ("best.safetensors", "last.safetensors"):
        assert _max_diff(load_file(str(full / name)), load_file(str(resumed / name))) == 0.0
    assert _metrics(full) == _metrics(resumed)
    samples = [run / "samples.txt" for run in (full, resumed)]
    assert samples[0].is_file() == samples[1].is_file()
    if samples[0].is_file():  # a language model's samples, one per evaluation, none twice
        assert samples[0].read_text() == samples[1].read_text()
    summary_a = json.loads((full / "summary.json").read_text())
    summary_b = json.loads((resumed / "summary.json").read_text())
    assert summary_a["metrics"] == summary_b["metrics"]


@pytest.mark.parametrize("family", FAMILIES)
def test_resume_equals_the_uninterrupted_run(tmp_path: Path, family: str) -> None:
    config = _configs(tmp_path)[family]
    rnnlab.train(config(9), tmp_path / "full", progress=False)
    rnnlab.train(config(6), tmp_path / "split", progress=False)
    rnnlab.train(config(9), tmp_path / "split", resume=True, progress=False)
    _assert_same_run(tmp_path / "full", tmp_path / "split")


def _kill_at_write(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Kill the run at its ``n``-th write (0: ``config.json``): a file written to its
    temporary name and never renamed, or a ``metrics.jsonl`` line cut in the middle."""
    count = itertools.count()
    real_atomic = checkpoint_module.atomic_write
    real_log = run_folder.RunFolder.log

    def atomic_write(path: Path, write: Any) -> None:
        if next(count) == n:
            write(str(Path(path).parent / f".{Path(path).name}.killed"))
            raise Killed
        real_atomic(path, write)

    def log(self: Any, record: dict[str, Any]) -> None:
        if next(count) == n:
            with open(self.path / "metrics.jsonl", "a") as f:
                f.write(json_line(record)[:12])
            raise Killed
        real_log(self, record)

    for module in (checkpoint_module, run_folder, rnnlab._io):
        monkeypatch.setattr(module, "atomic_write", atomic_write)
    monkeypatch.setattr(run_folder.RunFolder, "log", log)


# config.json is write 0; the first checkpoint (step 3) ends at write 6 (train line, val
# line, best, clipping, last, trainer.pt); the second's writes follow
@pytest.mark.parametrize("n", range(7, 14))
@pytest.mark.parametrize("family", ["copy", "charlm"])
def test_a_kill_at_any_write_resumes_to_the_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, family: str, n: int
) -> None:
    config = _configs(tmp_path)[family]
    rnnlab.train(config(9), tmp_path / "full", progress=False)
    with monkeypatch.context() as patch:
        _kill_at_write(patch, n)
        with pytest.raises(Killed):
            rnnlab.train(config(9), tmp_path / "killed", progress=False)
    rnnlab.train(config(9), tmp_path / "killed", resume=True, progress=False)
    _assert_same_run(tmp_path / "full", tmp_path / "killed")


def test_a_resume_that_ends_before_a_lost_best_keeps_the_checkpoints_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after ``best.safetensors`` of step 6 was written but before step 6's
    checkpoint, a resume to step 6 without improvement would leave step 6's best on disk;
    the resume restores the best weights of the checkpoint it reads."""
    config = _configs(tmp_path)["copy"]
    rnnlab.train(config(3), tmp_path / "three", progress=False)
    with monkeypatch.context() as patch:
        _kill_at_write(patch, 10)  # step 6: train line 7, val line 8, best 9, killed at 10
        with pytest.raises(Killed):
            rnnlab.train(config(9), tmp_path / "killed", progress=False)
    folder = run_folder.RunFolder(tmp_path / "killed")
    rnnlab.load(tmp_path / "killed")  # the files on disk stay loadable
    state = folder.resume(rnnlab.load(tmp_path / "killed").model)
    assert state["step"] == 3
    best = load_file(str(tmp_path / "killed" / "best.safetensors"))
    assert _max_diff(best, load_file(str(tmp_path / "three" / "best.safetensors"))) == 0.0
    assert [r["step"] for r in _metrics(tmp_path / "killed")] == [3, 3]


def test_conflicting_flags_are_refused_on_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "run")
    argv = ["train", "copy", "--T", "4", "--hidden", "8", "--batch-size", "4", "--steps", "6"]
    assert main([*argv, "--eval-every", "3", "--out", out, "--quiet"]) == 0
    resume = ["train", "copy", "--resume", "--out", out, "--quiet"]
    for flags, named in [
        (["--lr", "0.5"], "--lr 0.5"),
        (["--hidden", "16"], "--hidden 16"),
        (["--model", "gru"], "--model gru"),
        (["--T", "7"], "--T 7"),
        (["--seed", "3"], "--seed 3"),
        (["--steps", "5"], "--steps 6 or more"),
    ]:
        capsys.readouterr()
        assert main([*resume, *flags]) == 2, flags
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and named in err, err
    # the same values as the run's, and the flags a resume may change, are accepted
    assert main([*resume, "--hidden", "8", "--lr", "0.001", "--steps", "9"]) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 9


def test_the_library_refuses_another_config_on_resume(tmp_path: Path) -> None:
    config = _configs(tmp_path)["copy"]
    rnnlab.train(config(3), tmp_path, progress=False)
    other = dataclasses.replace(config(6), train=dataclasses.replace(config(6).train, lr=0.5))
    with pytest.raises(ValueError, match=r"train\.lr=0\.5 conflicts"):
        rnnlab.train(other, tmp_path, resume=True, progress=False)
