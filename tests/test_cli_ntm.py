"""The NTM from the command line: train on ntm-copy, evaluate at another length, draw the
memory weightings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnlab.cli import main


def test_ntm_copy_train_eval_at_length_and_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "run")
    argv = ["train", "ntm-copy", "--T", "3", "--hidden", "8", "--steps", "3", "--eval-every", "3"]
    argv += ["--cell-option", "memory_slots=8", "--cell-option", "memory_width=4"]
    assert main([*argv, "--out", out, "--quiet"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["cell"] == "ntm"
    assert config["model"]["cell_options"] == {"memory_slots": 8, "memory_width": 4}
    capsys.readouterr()
    figures = {}
    for length in (3, 12):
        assert main(["eval", out, "--length", str(length), "--splits", "test", "--json"]) == 0
        figures[length] = json.loads(capsys.readouterr().out)["test"]
    assert set(figures[3]) == {"loss", "bits", "wrong_bits", "bit_error_rate"}
    # an untrained model guesses: its bits per sequence grow with the 8L scored bits
    assert 3 < figures[12]["bits"] / figures[3]["bits"] < 5
    assert figures[12]["wrong_bits"] > figures[3]["wrong_bits"]
    diag = tmp_path / "diag"
    assert main(["diagnose", "memory", "--run", out, "--T", "5", "--out", str(diag)]) == 0
    assert "write head 0" in capsys.readouterr().out
    trace = json.loads((diag / "memory.json").read_text())
    assert trace["steps"] == 11 and trace["T"] == 5
    assert len(trace["write_weights"]) == 1 and len(trace["write_weights"][0]) == 11
    assert len(trace["read_weights"][0][0]) == 8  # slots
    assert sum(trace["scored"]) == 5
    assert (diag / "memory.png").stat().st_size > 0


def test_diagnose_memory_needs_an_ntm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    argv = ["train", "ntm-copy", "--T", "2", "--model", "gru", "--hidden", "4", "--steps", "1"]
    assert main([*argv, "--eval-every", "1", "--out", out, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["diagnose", "memory", "--run", out, "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "input layer is an NTM" in err and len(err.strip().splitlines()) == 1
