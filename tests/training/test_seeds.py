"""``--seeds N``: N seeds trained into RUN/seeds/, the best on val (never test) copied into
RUN, which eval and load then read; resume finishes the seeds; bad input is one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.cli import main
from rnnlab.training.seeds import choose_seed, train_seeds

TINY = ["--T", "6", "--hidden", "8", "--steps", "20", "--eval-every", "10"]


def _config(seed: int = 0) -> RunConfig:
    """``adding`` (mse, lower is better) for 20 steps: the seeds' val figures differ."""
    train = TrainConfig(steps=20, eval_every=10, batch_size=8, eval_batch_size=64, seed=seed)
    return RunConfig(
        "adding", TaskOptions(T=6, seed=seed), RNNConfig(cell="lstm", hidden_size=8), train
    )


def _weights(run: rnnlab.TrainedRun) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in run.model.state_dict().items()}


def test_choice_is_the_best_val_never_test() -> None:
    rows = [
        {"seed": 3, "val": 0.50, "val_loss": 1.0, "test": 0.99},  # best test, worse val
        {"seed": 4, "val": 0.90, "val_loss": 0.4, "test": 0.10},
        {"seed": 5, "val": 0.90, "val_loss": 0.3, "test": 0.20},  # tie on val: lower loss
        {"seed": 6, "val": None, "diverged": "NaN at step 3"},
        {"seed": 7, "val": math.nan},
    ]
    assert choose_seed(rows, higher_is_better=True)["seed"] == 5
    assert choose_seed(rows, higher_is_better=False)["seed"] == 3
    same = [{"seed": 9, "val": 0.5, "val_loss": 0.1}, {"seed": 8, "val": 0.5, "val_loss": 0.1}]
    assert choose_seed(same, higher_is_better=True)["seed"] == 8
    with pytest.raises(ValueError, match="all diverged"):
        choose_seed(rows[3:4], higher_is_better=True)


def test_best_seed_on_val_is_the_run_eval_and_load_read(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = train_seeds(_config(seed=1), out, 3, progress=False)
    table = json.loads((out / "seeds.json").read_text())
    rows = table["rows"]
    assert [r["seed"] for r in rows] == [1, 2, 3]
    vals = [r["val"] for r in rows]
    assert len(set(vals)) == 3  # the seeds differ, so the choice matters
    best = rows[vals.index(min(vals))]["seed"]  # mse: lower is better
    assert table["chosen"] == best == summary["seed_choice"]["chosen"]
    chosen_dir = out / "seeds" / f"seed-{best}"
    saved = json.loads((chosen_dir / "config.json").read_text())
    assert saved["train"]["seed"] == best and saved["task_options"]["seed"] == 1  # same data

    run, seed_run = rnnlab.load(out), rnnlab.load(chosen_dir)
    for key, value in _weights(seed_run).items():
        assert torch.equal(_weights(run)[key], value), key
    for other in {1, 2, 3} - {best}:  # and not any other seed's weights
        other_run = rnnlab.load(out / "seeds" / f"seed-{other}")
        assert any(not torch.equal(_weights(run)[k], v) for k, v in _weights(other_run).items())
    val = rnnlab.evaluate(run.model, run.task(), "val", 64)["mse"]
    assert val == pytest.approx(min(vals), rel=1e-5)
    assert json.loads((out / "summary.json").read_text())["seed_choice"]["chosen"] == best
    assert not (out / "trainer.pt").exists()  # a resume goes through seeds/


def test_resume_finishes_the_seeds(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train_seeds(_config(), out, 2, progress=False)
    first = (out / "seeds" / "seed-0" / "summary.json").stat().st_mtime_ns
    (out / "seeds" / "seed-1" / "summary.json").unlink()  # killed after its last checkpoint
    train_seeds(_config(), out, 3, resume=True, progress=False)
    assert (out / "seeds" / "seed-0" / "summary.json").stat().st_mtime_ns == first  # kept
    rows = json.loads((out / "seeds.json").read_text())["rows"]
    assert [r["seed"] for r in rows] == [0, 1, 2] and all(r["steps"] == 20 for r in rows)


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own validation
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    return err


def test_cli_seeds_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, plain = str(tmp_path / "run"), str(tmp_path / "plain")
    assert main(["train", "adding", *TINY, "--seeds", "2", "--out", out, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "<- chosen (best val)" in printed and "seed 1:" in printed
    result = json.loads(
        main(["eval", out, "--json"]) == 0 and capsys.readouterr().out.strip().splitlines()[-1]
    )
    chosen = json.loads((tmp_path / "run" / "seeds.json").read_text())["chosen"]
    row = json.loads((tmp_path / "run" / "seeds.json").read_text())["rows"][chosen]
    assert result["val"]["mse"] == pytest.approx(row["val"], rel=1e-5)

    assert "positive integer" in _cli_error(capsys, ["train", "adding", "--seeds", "0"])
    err = _cli_error(capsys, ["train", "adding", "--resume", "--out", out, "--quiet"])
    assert "--seeds" in err
    err = _cli_error(capsys, ["train", "adding", "--resume", "--seeds", "1", "--out", out])
    assert "holds 2 seeds" in err
    err = _cli_error(capsys, ["train", "adding", *TINY, "--seeds", "2", "--out", out])
    assert "already holds a run" in err
    assert main(["train", "adding", *TINY, "--out", plain, "--quiet"]) == 0
    capsys.readouterr()
    err = _cli_error(capsys, ["train", "adding", "--resume", "--seeds", "2", "--out", plain])
    assert "one seed" in err


def test_seeds_are_refused_under_torchrun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each torchrun process would train every seed and copy files: refused, nothing written."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "ddp-seeds"
    err = _cli_error(capsys, ["train", "adding", *TINY, "--seeds", "2", "--out", str(out)])
    assert "--seeds 2 is not supported under torchrun" in err
    assert not out.exists()
