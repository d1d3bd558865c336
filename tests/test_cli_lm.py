"""Language models from the command line: train charlm, sample, eval on a text file,
scheduled sampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnlab.cli import main


def write_corpus(path: Path) -> Path:
    text = "".join(f"the cat {i % 7} sat on the mat.\n" for i in range(400))
    path.write_text(text, encoding="utf-8")
    return path


def test_charlm_train_sample_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = str(tmp_path / "run")
    argv = [
        "train",
        "charlm",
        "--data",
        str(corpus),
        "--model",
        "gru",
        "--hidden",
        "32",
        "--layers",
        "1",
        "--T",
        "16",
        "--batch-size",
        "8",
        "--steps",
        "60",
        "--eval-every",
        "30",
        "--lr",
        "1e-2",
        "--out",
        out,
        "--quiet",
    ]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["main_metric"] == "bpc"
    assert summary["metrics"]["val"]["bpc"] < summary["baseline"]  # beats the unigram model
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "vocab" in config["task_info"] and config["task_info"]["kind"] == "lm"
    printed = capsys.readouterr().out
    assert "better than the baseline: test bpc" in printed and "NOT" not in printed
    # a 200-character sample at each evaluation, kept in samples.txt; training changed it
    kept = (tmp_path / "run" / "samples.txt").read_text(encoding="utf-8")
    heads = [line for line in kept.splitlines() if line.startswith("--- step ")]
    assert heads == ["--- step 30 ---", "--- step 60 ---"]
    first, second = (part.split("\n", 1)[1] for part in kept.split("--- step ")[1:])
    assert len(first) == len(second) == 200 + 1 and first != second
    assert set(second) <= set("the cat0123456sonm.\n")  # the corpus's characters only

    sample = ["sample", out, "--prompt", "the ", "--length", "40", "--seed", "3"]
    assert main(sample) == 0
    first = capsys.readouterr().out
    assert main(sample) == 0
    assert capsys.readouterr().out == first  # deterministic for a seed
    # the prompt, 40 sampled characters (newlines among them), and the line's end
    assert first.startswith("the ") and first.endswith("\n") and len(first) == 4 + 40 + 1
    assert main([*sample[:-1], "4", "--top-k", "3", "--temperature", "0.5"]) == 0
    capsys.readouterr()

    other = tmp_path / "other.txt"
    other.write_text("the mat sat on the cat! \u00e9\n", encoding="utf-8")
    assert main(["eval", out, "--data", str(other)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["unknown"] == 2 and result["bpc"] > 0  # "!" and "é" are unseen characters
    assert result["bpc"] == pytest.approx(result["loss"] / 0.6931471805599453)


def test_scheduled_sampling_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = str(tmp_path / "ss")
    argv = [
        "train",
        "charlm",
        "--data",
        str(corpus),
        "--model",
        "lstm",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--T",
        "8",
        "--batch-size",
        "4",
        "--steps",
        "10",
        "--eval-every",
        "5",
        "--scheduled-sampling",
        "linear",
        "--ss-k",
        "1",
        "--ss-c",
        "0.05",
        "--out",
        out,
        "--quiet",
    ]
    assert main(argv) == 0
    lines = [json.loads(x) for x in (tmp_path / "ss" / "metrics.jsonl").read_text().splitlines()]
    probs = [r["teacher_probability"] for r in lines if r["split"] == "train"]
    assert probs == pytest.approx([1 - 0.05 * 5, 1 - 0.05 * 10])
    capsys.readouterr()
    assert (
        main(["train", "copy", "--scheduled-sampling", "linear", "--out", str(tmp_path / "x")]) == 2
    )
    assert "generative model" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "ss"), "--length", "5"]) == 0


def test_exposure_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "hmm")
    argv = [
        "train",
        "hmm",
        "--T",
        "12",
        "--hidden",
        "8",
        "--steps",
        "20",
        "--eval-every",
        "20",
        "--out",
        out,
        "--quiet",
    ]
    assert main(argv) == 0
    capsys.readouterr()
    diag = tmp_path / "diag"
    argv = ["diagnose", "exposure", "--run", out, "--rows", "16", "--out", str(diag)]
    assert main(argv) == 0
    data = json.loads((diag / "exposure.json").read_text())
    entry = next(iter(data.values()))
    assert len(entry["kl_free"]) == 12 and len(entry["kl_teacher_forced"]) == 12
    assert entry["mean_kl_free"] > 0 and (diag / "exposure.png").is_file()
    assert "mean KL free-running" in capsys.readouterr().out


def test_sample_derives_orthogonal_weights_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rnnlab sample`` runs inside ``rnnlab.cells.decoding``: an expRNN's
    ``W = exp(A - A^T)`` once for the prompt and every generated character, not per token."""
    import torch

    corpus = write_corpus(tmp_path / "corpus.txt")
    out = str(tmp_path / "exp")
    argv = ["train", "charlm", "--data", str(corpus), "--model", "exprnn", "--hidden", "8"]
    argv += ["--layers", "1"]
    argv += ["--T", "8", "--batch-size", "4", "--steps", "2", "--out", out, "--quiet"]
    assert main(argv) == 0
    calls = [0]
    original = torch.linalg.matrix_exp

    def counted(a: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return original(a)

    monkeypatch.setattr(torch.linalg, "matrix_exp", counted)
    capsys.readouterr()
    assert main(["sample", out, "--prompt", "the ", "--length", "30", "--seed", "1"]) == 0
    assert calls[0] == 1
    assert len(capsys.readouterr().out.rstrip("\n")) == 34


def test_baseline_verdict_knows_the_direction() -> None:
    from rnnlab import baseline_verdict

    def summary(value: float, higher: bool) -> dict:
        metric = "accuracy" if higher else "ce"
        return {
            "main_metric": metric,
            "baseline": 0.5,
            "higher_is_better": higher,
            "metrics": {"test": {metric: value}},
        }

    assert baseline_verdict(summary(0.9, True)).startswith("better than the baseline")
    assert baseline_verdict(summary(0.9, False)).startswith("NOT better than the baseline")
    assert baseline_verdict(summary(0.1, False)).startswith("better than the baseline")
    assert "too short to learn" in baseline_verdict(summary(0.1, True))
    assert baseline_verdict({**summary(0.1, True), "baseline": None}) is None
