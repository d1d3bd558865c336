"""Run folders written by an older rnnlab still load, evaluate, sample and translate.

``tests/fixtures/runs/`` holds four tiny runs (copy, charlm, dates, mnist1d) made by
rnnlab at commit 53a510f, before the model/task/training seams redesign, with the
commands in ``tests/fixtures/make_old_runs.sh``. Whatever the internals become, these
folders must keep working through the public entry points only: the command line
(``rnnlab.cli.main``) and ``rnnlab.load`` with the returned run's ``predict`` and
``translate``. Never remake the fixtures to make this test pass.

The charlm run records its corpus as ``tests/fixtures/charlm_corpus.txt``, relative to the
repository root, so the tests run there; the run folders are copied to a temporary folder
first so that nothing can write into the fixtures. MNIST-1D is generated offline (about
two seconds) into a cache under a temporary ``HOME``.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.cli import main

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
RUNS = ("copy", "charlm", "dates", "mnist1d")
TOLERANCE = 1e-4
DATES = ("3 March 1998", "03/03/98", "the 21st of July 2004")


@pytest.fixture(scope="module")
def old_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the fixture runs, with the working directory at the repository root and
    ``HOME`` (hence the default download/generation cache) in a temporary folder."""
    folder = tmp_path_factory.mktemp("old_runs")
    for name in RUNS:
        shutil.copytree(FIXTURES / "runs" / name, folder / name)
    home = folder / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        yield folder


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()  # drop anything printed before
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, f"rnnlab {' '.join(argv)} exited {code}: {captured.err}"
    return captured.out


def recorded(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", RUNS)
def test_eval_reproduces_the_recorded_metrics(
    old_runs: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    run = old_runs / name
    summary = recorded(run)
    result = json.loads(run_cli(capsys, "eval", str(run), "--json"))
    main_metric = summary["main_metric"]
    for split in ("val", "test"):
        want = summary["metrics"][split]
        got = result[split]
        assert main_metric in got, f"{name} {split}: eval gave no {main_metric}"
        shared = [m for m in want if m in got]
        assert "loss" in shared
        for metric in shared:
            assert got[metric] == pytest.approx(want[metric], abs=TOLERANCE), (
                f"{name} {split} {metric}: eval {got[metric]} != recorded {want[metric]}"
            )


@pytest.mark.parametrize("name", RUNS)
def test_load(old_runs: Path, name: str) -> None:
    run = rnnlab.load(old_runs / name)
    assert run.summary["metrics"] == recorded(old_runs / name)["metrics"]
    assert sum(p.numel() for p in run.model.parameters()) == recorded(old_runs / name)["params"]
    last = rnnlab.load(old_runs / name, checkpoint="last")
    assert last.summary == run.summary


def test_sample_charlm(old_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = str(old_runs / "charlm")
    corpus = (FIXTURES / "charlm_corpus.txt").read_text(encoding="utf-8")
    allowed = set(corpus) | {"\ufffd"}  # the training text's characters, and unknown
    argv = ("sample", run, "--length", "200", "--seed", "0")
    text = run_cli(capsys, *argv)
    assert text.endswith("\n") and len(text) == 201
    assert set(text) <= allowed and text.strip()
    assert run_cli(capsys, *argv) == text  # a fixed seed gives the same sample

    prompted = run_cli(capsys, "sample", run, "--prompt", "The old ", "--length", "50", "--greedy")
    assert prompted.startswith("The old ") and len(prompted) == len("The old ") + 50 + 1
    assert set(prompted) <= allowed


def test_translate_dates(
    old_runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = old_runs / "dates"
    iso = set("0123456789-")

    one = run_cli(capsys, "translate", str(run), DATES[0]).splitlines()
    assert len(one) == 1 and one[0] and set(one[0]) <= iso

    inputs = tmp_path / "dates.txt"
    inputs.write_text("\n".join(DATES) + "\n", encoding="utf-8")
    lines = run_cli(capsys, "translate", str(run), "--input", str(inputs)).splitlines()
    assert len(lines) == len(DATES) and lines[0] == one[0]
    assert all(line and set(line) <= iso for line in lines)

    beam = run_cli(capsys, "translate", str(run), "--input", str(inputs), "--beam", "3")
    assert len(beam.splitlines()) == len(DATES)

    assert rnnlab.load(run).translate(list(DATES)) == lines


def test_predict_mnist1d_reproduces_the_test_accuracy(old_runs: Path) -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    run = rnnlab.load(old_runs / "mnist1d")
    np_state, py_state = np.random.get_state(), random.getstate()  # make_dataset reseeds
    try:  # the published MNIST-1D: the package's defaults (seed 42), test = the last 1000
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x = np.asarray(data["x_test"], dtype=np.float32)  # (1000, 40)
    y = np.asarray(data["y_test"], dtype=np.int64)
    labels = torch.as_tensor(run.predict(x))
    assert labels.shape == (len(y),)
    accuracy = float((labels.numpy() == y).mean())
    want = recorded(old_runs / "mnist1d")["metrics"]["test"]["accuracy"]
    assert accuracy == pytest.approx(want, abs=TOLERANCE)


def test_predict_copy(old_runs: Path) -> None:
    run = rnnlab.load(old_runs / "copy")
    generator = torch.Generator().manual_seed(0)
    symbols = torch.randint(0, 10, (4, 25), generator=generator)
    x = torch.nn.functional.one_hot(symbols, 10).float()  # (B, T, 10): copy's 10 inputs
    tags = torch.as_tensor(run.predict(x))
    assert tags.shape == (4, 25)
    assert int(tags.min()) >= 0 and int(tags.max()) < 9  # copy's 9 output classes
