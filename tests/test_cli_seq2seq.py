"""Encoder-decoders from the command line and the library: train a generated seq2seq task,
translate from the run folder (text and file), diagnose attention and length, load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.cli import main, read_input_lines
from rnnlab.training import run as run_module


def _train(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "run"
    argv = [
        "train",
        "reverse",
        "--T",
        "4",
        "--hidden",
        "16",
        "--embedding",
        "8",
        "--steps",
        "4",
        "--eval-every",
        "4",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    assert main(argv) == 0
    return out


def test_train_translate_and_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _train(tmp_path, "--attention", "additive", "--beam", "2")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["main_metric"] == "exact_match" and summary["attention"] == "additive"
    test = summary["metrics"]["test"]
    assert {"loss", "token_accuracy", "exact_match", "greedy_exact_match"} <= set(test)
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["attention"] == "additive" and config["train"]["beam_size"] == 2
    assert config["task_info"]["codec"]["src_vocab"]["tokens"][:3] == ["a", "b", "c"]
    capsys.readouterr()

    # the vocabularies come from the run folder: no task is built
    def no_task(*args: object, **kwargs: object) -> None:
        raise AssertionError("translate must not rebuild the task")

    monkeypatch.setattr(run_module, "build_task", no_task)
    assert main(["translate", str(out), "a b c", "--beam", "3"]) == 0
    one = capsys.readouterr().out.splitlines()
    assert len(one) == 1
    lines = ["a b c", "", "d d a b", "zzz b"]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["translate", str(out), "--input", str(src), "--beam", "3"]) == 0
    many = capsys.readouterr().out.splitlines()
    assert len(many) == len(lines) and many[0] == one[0]
    run = rnnlab.load(out)
    assert run.translate(lines, beam=3) == many
    assert all(set(t.split()) <= set("abcdefghijklmnopqrstuvwxyz") for t in many)
    with pytest.raises(ValueError, match="translate"):
        run.predict([[1, 2]])


def test_input_lines_split_at_newlines_only(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes("a\u2028b\r\nc\u0085d\n\ne\n".encode())
    assert read_input_lines(str(path)) == ["a\u2028b", "c\u0085d", "", "e"]
    path.write_bytes(b"")
    assert read_input_lines(str(path)) == []
    path.write_bytes(b"last line without newline")
    assert read_input_lines(str(path)) == ["last line without newline"]


def test_translate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _train(tmp_path, "--attention", "none", "--unidirectional")
    assert json.loads((out / "config.json").read_text())["model"]["bidirectional"] is False
    capsys.readouterr()
    assert main(["translate", str(out)]) == 2
    assert "not both or neither" in capsys.readouterr().err
    assert main(["translate", str(tmp_path / "missing"), "a"]) == 2


def test_cli_rejects_bad_seq2seq_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "reverse", "--attention", "luong"])
    assert main(["train", "reverse", "--attention", "dot", "--steps", "1", "--quiet"]) == 2
    assert "dot attention needs" in capsys.readouterr().err


def test_diagnose_attention_and_length(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _train(tmp_path, "--attention", "general")
    diag = tmp_path / "diag"
    text = "a b c d"
    assert (
        main(["diagnose", "attention", "--run", str(out), "--text", text, "--out", str(diag)]) == 0
    )
    data = json.loads((diag / "attention.json").read_text())
    assert data["source"] == ["a", "b", "c", "d", "<eos>"]
    weights = data["weights"]
    assert len(weights) == len(data["output"]) and all(len(r) == 5 for r in weights)
    assert all(abs(sum(r) - 1) < 1e-5 for r in weights)
    assert (diag / "attention.png").stat().st_size > 0
    argv = ["diagnose", "length", "--run", str(out), "--out", str(diag), "--bucket-width", "2"]
    assert main(argv) == 0
    curves = json.loads((diag / "length.json").read_text())
    (curve,) = curves.values()
    assert curve["lengths"] == [[1, 2], [3, 4]] and sum(curve["counts"]) == 1000
    assert curve["metric"] == "exact_match" and (diag / "length.png").stat().st_size > 0
    # the buckets' exact matches average, weighted by their counts, to the overall figure
    total = sum(c * v for c, v in zip(curve["counts"], curve["values"], strict=True))
    assert total / 1000 == pytest.approx(curve["overall"])
    assert main(["diagnose", "attention", "--run", str(out), "--out", str(diag)]) == 2


def test_scheduled_sampling_trains_an_encoder_decoder(tmp_path: Path) -> None:
    config = RunConfig(
        task="reverse",
        task_options=TaskOptions(T=4),
        model=RNNConfig(cell="gru", hidden_size=16, embedding_size=8, bidirectional=True),
        train=TrainConfig(
            steps=4, batch_size=8, eval_every=4, scheduled_sampling="linear", ss_k=1.0, ss_c=0.1
        ),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    assert summary["steps"] == 4
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    train = [json.loads(x) for x in lines if '"train"' in x]
    assert train[0]["teacher_probability"] == pytest.approx(0.6)


@pytest.mark.slow
def test_reverse_is_learned_with_attention(tmp_path: Path) -> None:
    config = RunConfig(
        task="reverse",
        task_options=TaskOptions(T=8),
        model=RNNConfig(
            cell="gru",
            hidden_size=48,
            embedding_size=16,
            bidirectional=True,
            attention="general",
            input_feeding=False,
        ),
        train=TrainConfig(steps=400, batch_size=32, lr=1e-2, eval_every=400),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    assert summary["metrics"]["test"]["exact_match"] > 0.8  # chance: 26^-n


def test_eval_decodes_with_the_runs_beam(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _train(tmp_path, "--beam", "2")
    capsys.readouterr()
    assert main(["eval", str(out), "--splits", "val", "--json"]) == 0
    val = json.loads(capsys.readouterr().out)["val"]
    summary = json.loads((out / "summary.json").read_text())
    assert val == pytest.approx(summary["metrics"]["val"])
    assert main(["eval", str(out), "--splits", "val", "--json", "--beam", "1"]) == 0
    assert "greedy_exact_match" not in json.loads(capsys.readouterr().out)["val"]


def test_bf16_autocast_training(tmp_path: Path) -> None:
    out = _train(tmp_path, "--bf16")
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["bf16"] is True
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and 0 < summary["metrics"]["val"]["loss"] < 10
    run = rnnlab.load(out)
    assert all(p.dtype == torch.float32 for p in run.model.parameters())
