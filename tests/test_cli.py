"""The command line end to end on tiny runs, including resume and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rnnlab
from rnnlab.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_eval_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    code, stdout, _ = run_cli(
        capsys,
        "train",
        "copy",
        "--model",
        "lstm",
        "--T",
        "5",
        "--hidden",
        "8",
        "--steps",
        "20",
        "--eval-every",
        "10",
        "--batch-size",
        "8",
        "--out",
        out,
        "--quiet",
    )
    assert code == 0 and "summary.json" in stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["model"] == "lstm"

    code, stdout, _ = run_cli(
        capsys, "train", "copy", "--resume", "--out", out, "--steps", "30", "--quiet"
    )
    assert code == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 30

    code, stdout, _ = run_cli(capsys, "eval", out, "--json")
    assert code == 0
    result = json.loads(stdout)
    assert set(result) == {"val", "test"} and "ce" in result["test"]
    assert result["test"]["ce"] == pytest.approx(
        json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]["test"]["ce"],
        rel=1e-5,
    )

    code, _, err = run_cli(capsys, "train", "copy", "--out", out, "--quiet")
    assert code == 2 and "already holds a run" in err


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run_cli(capsys, "list", "--json")
    data = json.loads(stdout)
    assert code == 0 and {"copy", "adding"} <= set(data["tasks"])
    assert {"elman", "lstm", "gru"} <= set(data["models"])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "nosuchtask"], "unknown task 'nosuchtask'"),
        (["train", "copy", "--model", "nosuchcell"], "'nosuchcell'"),
        (["train", "copy", "--hidden", "0"], "expected a positive integer, got '0'"),
        (["train", "copy", "--T", "-5"], "expected a positive integer, got '-5'"),
        (["train", "copy", "--data", "/no/such"], "does not apply to task 'copy'"),
        (["eval", "/no/such/run"], "does not exist"),
    ],
)
def test_bad_input_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own validation
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code != 0
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err


def test_corrupt_checkpoint_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    main(
        [
            "train",
            "adding",
            "--T",
            "6",
            "--hidden",
            "4",
            "--steps",
            "5",
            "--eval-every",
            "5",
            "--out",
            out,
            "--quiet",
        ]
    )
    (tmp_path / "run" / "best.safetensors").write_bytes(b"\x00" * 10)
    capsys.readouterr()
    code = main(["eval", out])
    err = capsys.readouterr().err
    assert code == 2 and "corrupt checkpoint" in err and len(err.strip().splitlines()) == 1


def test_eval_at_another_length(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    main(
        [
            "train",
            "copy",
            "--T",
            "5",
            "--hidden",
            "8",
            "--steps",
            "5",
            "--eval-every",
            "5",
            "--out",
            out,
            "--quiet",
        ]
    )
    capsys.readouterr()
    assert main(["eval", out, "--T", "12", "--splits", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"test"} and result["test"]["ce"] > 0


def test_dilated_stack_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    argv = [
        "train",
        "adding",
        "--model",
        "dilated",
        "--cell",
        "gru",
        "--layers",
        "3",
        "--T",
        "12",
        "--hidden",
        "8",
        "--steps",
        "4",
        "--eval-every",
        "4",
        "--out",
        out,
        "--quiet",
    ]
    assert main(argv) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    model = config["model"]
    assert model["family"] == "rnn" and model["stack"] == "dilated" and model["cell"] == "gru"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"] == "dilated(gru)"
    capsys.readouterr()
    assert main(["eval", out, "--json"]) == 0  # the config (dilations included) loads back
    assert main(["train", "copy", "--model", "dilated", "--out", str(tmp_path / "x")]) == 2
    assert "--cell" in capsys.readouterr().err
    assert main(["train", "copy", "--model", "lstm", "--cell", "gru"]) == 2
    assert "contradicts" in capsys.readouterr().err


def test_deep_rnn_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    argv = [
        "train",
        "adding",
        "--model",
        "gru",
        "--layers",
        "2",
        "--stack",
        "deep",
        "--deep-output",
        "16",
        "--T",
        "6",
        "--hidden",
        "8",
        "--steps",
        "3",
        "--eval-every",
        "3",
        "--out",
        out,
        "--quiet",
    ]
    assert main(argv) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert config["stack"] == "deep" and config["deep_output"] == 16
    run = rnnlab.load(out)
    assert type(run.model.layers).__name__ == "DeepStacked"
    assert type(run.model.head).__name__ == "DeepOutput"
    capsys.readouterr()
    argv = ["train", "adding", "--stack", "deep", "--residual", "--out", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "drop --residual" in capsys.readouterr().err
