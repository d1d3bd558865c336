"""Exposure bias on text: entropy along free-running and teacher-forced continuations,
n-gram divergence of the generated text, and the diagnose command on charlm runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from scipy.spatial.distance import jensenshannon
from torch import Tensor

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.cli import main
from rnnlab.diagnostics.commands import diagnose_exposure
from rnnlab.diagnostics.exposure import KnownProcess, StepModel
from rnnlab.diagnostics.exposure_text import TextSource, js_divergence, ngram_ids, text_exposure
from rnnlab.layers import build_layers
from rnnlab.models import LanguageModel, Tagger
from rnnlab.tasks.registry import build_task

F64 = torch.float64


class Prev(NamedTuple):
    token: Tensor  # (B,) the last token read (unused by the models below but batch-first)


def init(batch: int) -> Prev:
    return Prev(torch.zeros(batch, dtype=torch.long))


def markov_text(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` tokens of a random 4-symbol first-order Markov chain, and its transition
    matrix."""
    g = torch.Generator().manual_seed(seed)
    A = torch.distributions.Dirichlet(torch.full((4, 4), 0.7)).sample()
    A = A.double() / A.double().sum(1, keepdim=True)
    x = [0]
    for _ in range(n - 1):
        x.append(int(torch.multinomial(A[x[-1]], 1, generator=g)))
    return torch.tensor(x), A


def test_js_divergence_matches_scipy() -> None:
    g = torch.Generator().manual_seed(0)
    p, q = torch.rand(5, generator=g, dtype=F64), torch.rand(5, generator=g, dtype=F64)
    p[1] = 0.0
    p, q = p / p.sum(), q / q.sum()
    expected = jensenshannon(p.numpy(), q.numpy()) ** 2  # natural log
    assert float(js_divergence(p, q)) == pytest.approx(expected, rel=1e-9)
    assert float(js_divergence(p, p)) == 0.0
    disjoint = js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert float(disjoint) == pytest.approx(math.log(2))


def test_ngram_ids() -> None:
    assert ngram_ids(torch.tensor([1, 2, 3]), 2, 10).tolist() == [12, 23]
    assert ngram_ids(torch.tensor([[1, 2, 3]]), 3, 10).tolist() == [[123]]
    with pytest.raises(ValueError, match="at least n=3"):
        ngram_ids(torch.tensor([1, 2]), 3, 10)


def test_the_exact_model_shows_no_exposure_bias_and_a_stuck_one_does() -> None:
    text, A = markov_text(20000)

    def exact(token: Tensor, state: Prev) -> tuple[Tensor, Prev]:
        return A[token].log(), Prev(token)

    def stuck(token: Tensor, state: Prev) -> tuple[Tensor, Prev]:
        logits = torch.full((token.shape[0], 4), -1e9, dtype=F64)
        logits[torch.arange(token.shape[0]), (token + 1) % 4] = 0.0
        return logits, Prev(token)

    def run(step):  # type: ignore[no-untyped-def]
        g = torch.Generator().manual_seed(1)
        return text_exposure(step, init, text, 600, 24, context=3, generator=g, windows=4)

    good, bad = run(exact), run(stuck)
    d = good.to_dict()
    # H(A[x_{t-1}]) along both continuations: equal in expectation for the true model
    assert abs(d["mean_entropy_gap"]) < 3 * d["mean_entropy_gap_se"] + 1e-3
    assert d["mean_nll_teacher_forced"] == pytest.approx(d["mean_entropy_teacher_forced"], abs=0.05)
    assert d["mean_js_free"] < 2 * d["mean_js_true"]
    # the same prefixes and true continuations for both models
    assert torch.equal(good.positions, bad.positions) and torch.equal(good.js_true, bad.js_true)
    stuck_d = bad.to_dict()
    assert stuck_d["mean_entropy_free"] < 1e-6 and stuck_d["mean_nll_teacher_forced"] > 100
    assert stuck_d["mean_js_free"] > 10 * stuck_d["mean_js_true"]
    # the free-running samples really are the stuck model's: x_t = x_{t-1} + 1
    assert torch.equal(bad.tokens[:, 1:], (bad.tokens[:, :-1] + 1) % 4)
    assert len(d["js_free"]) == 4 and d["windows"] == [[1, 6], [7, 12], [13, 18], [19, 24]]


def test_uniform_model_entropy_is_log_v() -> None:
    text, _ = markov_text(500)

    def uniform(token: Tensor, state: Prev) -> tuple[Tensor, Prev]:
        return torch.zeros(token.shape[0], 4), state

    curve = text_exposure(uniform, init, text, 8, 10, context=2)
    log4 = torch.full((8, 10), math.log(4), dtype=F64)
    for rows in (
        curve.entropy_free_rows,
        curve.entropy_teacher_forced_rows,
        curve.nll_teacher_forced_rows,
    ):
        torch.testing.assert_close(rows, log4)
    with pytest.raises(ValueError, match="too short"):
        text_exposure(uniform, init, text[:20], 8, 10, context=12)


def write_corpus(path: Path) -> Path:
    text = "".join(f"the cat {i % 7} sat on the mat.\n" for i in range(200))
    path.write_text(text, encoding="utf-8")
    return path


def tiny_charlm(tmp_path: Path, name: str, **train: object) -> Path:
    corpus = write_corpus(tmp_path / "corpus.txt")
    config = RunConfig(
        task="charlm",
        task_options=TaskOptions(T=8, data=str(corpus)),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(steps=4, batch_size=4, eval_every=4, **train),  # type: ignore[arg-type]
    )
    rnnlab.train(config, tmp_path / name, progress=False)
    return tmp_path / name


def test_diagnose_exposure_on_text_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tf = tiny_charlm(tmp_path, "tf")
    pf = tiny_charlm(tmp_path, "pf", professor_forcing=True, pf_hidden=4, pf_mlp=4)
    out = tmp_path / "diag"
    argv = ["diagnose", "exposure", "--run", str(tf), "--run", str(pf), "--rows", "8"]
    assert main([*argv, "--length", "12", "--context", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[teacher forcing]" in printed and "[professor forcing (w=1)]" in printed
    data = json.loads((out / "exposure.json").read_text())
    assert (out / "exposure.png").stat().st_size > 0
    assert set(data) == {"tf", "pf"}
    assert data["tf"]["measure"] == "text" and data["pf"]["training_mode"].startswith("professor")
    entry = data["tf"]
    assert entry["context"] == 4 and entry["num_sequences"] == 8
    assert len(entry["entropy_free"]) == len(entry["nll_teacher_forced"]) == 12
    assert entry["mean_entropy_free"] > 0 and entry["js_true"] == data["pf"]["js_true"]


def test_exact_and_text_runs_do_not_mix(tmp_path: Path) -> None:
    tf = tiny_charlm(tmp_path, "tf")
    hmm = tmp_path / "hmm"
    config = RunConfig(
        task="hmm",
        task_options=TaskOptions(T=6),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(steps=2, batch_size=4, eval_every=2),
    )
    rnnlab.train(config, hmm, progress=False)
    with pytest.raises(ValueError, match="not both"):
        diagnose_exposure([str(tf), str(hmm)], tmp_path / "mixed", num_sequences=4, length=5)
    result = diagnose_exposure([str(hmm)], tmp_path / "exact", num_sequences=4)
    assert result["hmm"]["measure"] == "exact_kl"
    assert result["hmm"]["training_mode"] == "teacher forcing"


def test_the_measure_follows_what_the_task_and_model_offer(tmp_path: Path) -> None:
    # exact KL where the task has a known process, text measures where it has a text
    charlm = build_task("charlm", TaskOptions(T=8, data=str(write_corpus(tmp_path / "c.txt"))))
    hmm, copy = build_task("hmm", TaskOptions(T=6)), build_task("copy", TaskOptions(T=3))
    assert isinstance(hmm, KnownProcess) and not isinstance(hmm, TextSource)
    assert isinstance(charlm, TextSource) and not isinstance(charlm, KnownProcess)
    assert not isinstance(copy, KnownProcess | TextSource)
    # the model: initial_state(batch) and step(tokens, state)
    assert isinstance(LanguageModel(5, build_layers("gru", 4, 3)), StepModel)
    assert not isinstance(Tagger(build_layers("gru", 4, 3), 2), StepModel)
