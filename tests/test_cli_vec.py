"""vec->seq from the command line: train mnist1d-gen, sample a class, plot, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.tasks.quantise import UniformQuantiser


def test_mnist1d_gen_train_and_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    argv = ["train", "mnist1d-gen", "--model", "gru", "--hidden", "16", "--steps", "20"]
    argv += ["--eval-every", "10", "--batch-size", "16", "--out", out, "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mnist1d-gen / gru: test bpc" in printed and "fidelity classifier" in printed
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    test = summary["metrics"]["test"]
    assert summary["main_metric"] == "bpc" and 0.0 <= test["fidelity"] <= 1.0
    assert test["bpc"] < 5.0  # below the uniform 32-level guess after 20 steps
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["feed_condition"] is True  # the task's default
    spec = config["task_info"]["metadata"]["generation"]
    quantiser = UniformQuantiser.from_json(spec["quantiser"])
    centres = {round(v, 3) for v in quantiser.dequantise(list(range(32))).tolist()}

    sample = ["sample", out, "--condition", "3", "--length", "40", "--seed", "7"]
    assert main(sample) == 0
    first = capsys.readouterr().out
    assert main(sample) == 0
    assert capsys.readouterr().out == first  # deterministic for a seed
    values = [float(v) for v in first.split()]
    assert len(first.splitlines()) == 1 and len(values) == 40
    assert {round(v, 3) for v in values} <= centres  # dequantised level centres

    png = tmp_path / "samples.png"
    more = ["sample", out, "--condition", "0,9", "--num", "2", "--greedy", "--out", str(png)]
    assert main(more) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0] == lines[1]  # greedy: one sequence per class
    assert png.stat().st_size > 1000

    assert main(["sample", out, "--condition", "12"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "rnnlab: error: class 12 is out of range; expected 0..9"
    assert main(["sample", out]) == 2
    assert "give --condition" in capsys.readouterr().err
    assert main(["sample", out, "--condition", "three"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_condition_flags_are_refused_for_language_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abcabcabd\n" * 50, encoding="utf-8")
    out = str(tmp_path / "lm")
    argv = ["train", "charlm", "--data", str(corpus), "--hidden", "8", "--T", "8"]
    argv += ["--steps", "2", "--eval-every", "2", "--out", out, "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["sample", out, "--condition", "3"]) == 2
    assert "--condition applies to vec->seq runs" in capsys.readouterr().err
    assert main(["sample", out, "--greedy", "--length", "5", "--prompt", "ab"]) == 0
    assert len(capsys.readouterr().out.rstrip("\n")) == 7
