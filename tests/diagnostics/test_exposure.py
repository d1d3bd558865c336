"""Exposure bias on the known-distribution task: exact cases and the diagnose command."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.decoding import StepFn
from rnnlab.diagnostics import ExposureCurve, exposure_bias, kl_to_model
from rnnlab.diagnostics.commands import diagnose_exposure
from rnnlab.tasks import BeliefState, HMMProcess

F64 = torch.float64


def process() -> HMMProcess:
    return HMMProcess(12, 6, seed=4, num_blocks=3)


def entropy(p: Tensor) -> Tensor:
    return -torch.xlogy(p, p).sum(-1)


def test_true_model_has_zero_kl() -> None:
    hmm = process()
    curve = exposure_bias(
        hmm.step, hmm.initial_state, hmm, 64, 30, torch.Generator().manual_seed(0)
    )
    assert curve.kl.shape == curve.kl_teacher_forced.shape == (30,)
    assert curve.kl_rows.shape == curve.tokens.shape == (64, 30)
    assert float(curve.kl_rows.abs().max()) < 1e-9
    assert float(curve.kl_teacher_forced_rows.abs().max()) < 1e-9


class Empty(NamedTuple):
    n: Tensor  # (B,) a placeholder with the batch first


def test_uniform_model_kl_is_log_v_minus_entropy() -> None:
    hmm = process()
    V = hmm.num_symbols

    def uniform(token: Tensor, state: Empty) -> tuple[Tensor, Empty]:
        return torch.zeros(token.shape[0], V), state

    curve = exposure_bias(
        uniform, lambda B: Empty(torch.zeros(B)), hmm, 50, 20, torch.Generator().manual_seed(1)
    )
    for rows, tokens in (
        (curve.kl_rows, curve.tokens),
        (curve.kl_teacher_forced_rows, curve.tokens_teacher_forced),
    ):
        expected = math.log(V) - entropy(hmm.next_distributions(tokens))
        torch.testing.assert_close(rows, expected, atol=1e-9, rtol=0)
    torch.testing.assert_close(curve.kl, math.log(V) - curve.entropy, atol=1e-9, rtol=0)


def test_mass_on_the_start_symbol_counts_against_the_model() -> None:
    """The exact model with a share eps moved to an extra token: KL = -log(1 - eps) at every
    position, and free-running samples still follow the true process."""
    hmm = process()
    eps = 0.1

    def leaky(token: Tensor, state: BeliefState) -> tuple[Tensor, BeliefState]:
        logp, state = hmm.step(token, state)
        extra = torch.full((token.shape[0], 1), math.log(eps), dtype=F64)
        return torch.cat([logp + math.log(1 - eps), extra], 1), state

    curve = exposure_bias(leaky, hmm.initial_state, hmm, 40, 10, torch.Generator().manual_seed(2))
    target = torch.full((40, 10), -math.log(1 - eps), dtype=F64)
    torch.testing.assert_close(curve.kl_rows, target, atol=1e-9, rtol=0)
    torch.testing.assert_close(curve.kl_teacher_forced_rows, target, atol=1e-9, rtol=0)
    assert int(curve.tokens.max()) < hmm.num_symbols


def test_kl_to_model_checks_shapes() -> None:
    p = torch.tensor([[0.5, 0.5, 0.0]], dtype=F64)
    assert float(kl_to_model(p, torch.tensor([[0.0, 0.0, -math.inf]]))) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least 3 tokens"):
        kl_to_model(p, torch.zeros(1, 2))


def test_seeded_and_same_true_prefixes_for_every_model() -> None:
    hmm = process()

    def uniform(token: Tensor, state: Empty) -> tuple[Tensor, Empty]:
        return torch.zeros(token.shape[0], hmm.num_symbols), state

    def run(step: StepFn, init: Callable[[int], Any]) -> ExposureCurve:
        return exposure_bias(step, init, hmm, 16, 12, torch.Generator().manual_seed(7))

    a = run(hmm.step, hmm.initial_state)
    b = run(hmm.step, hmm.initial_state)
    u = run(uniform, lambda B: Empty(torch.zeros(B)))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.kl_rows, b.kl_rows)
    assert torch.equal(a.tokens_teacher_forced, u.tokens_teacher_forced)


def test_summary_numbers() -> None:
    rows = torch.arange(1, 9, dtype=F64).expand(3, -1)  # KL = t at position t
    z = torch.zeros(8, dtype=F64)
    tokens = torch.zeros(3, 8, dtype=torch.long)
    curve = ExposureCurve(rows, 2 * rows, z, z, tokens, tokens)
    d = curve.to_dict()
    assert d["mean_kl_free"] == pytest.approx(4.5) and d["mean_kl_teacher_forced"] == 9.0
    assert d["growth_free"] == pytest.approx(7.5 / 1.5) and d["slope_free"] == pytest.approx(1.0)
    assert d["slope_teacher_forced"] == pytest.approx(2.0)
    assert d["free_over_teacher_forced"] == pytest.approx(0.5) and d["kl_free_se"][0] == 0.0


def test_arguments_are_checked() -> None:
    hmm = process()
    with pytest.raises(ValueError, match="num_sequences"):
        exposure_bias(hmm.step, hmm.initial_state, hmm, 0, 5)

    def short(token: Tensor, state: BeliefState) -> tuple[Tensor, BeliefState]:
        return torch.zeros(token.shape[0], 3), state

    with pytest.raises(ValueError, match="fewer than the process's 6 symbols"):
        exposure_bias(short, hmm.initial_state, hmm, 4, 5)


def tiny_run(tmp_path: Path, name: str, task: str, T: int) -> Path:
    config = RunConfig(
        task=task,
        task_options=TaskOptions(T=T),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(steps=4, batch_size=8, eval_every=4),
    )
    rnnlab.train(config, tmp_path / name, progress=False)
    return tmp_path / name


def test_diagnose_exposure_writes_json_and_png(tmp_path: Path) -> None:
    run = tiny_run(tmp_path, "tf", "hmm", 8)
    result = diagnose_exposure([str(run)], tmp_path / "out", num_sequences=16, length=12)
    data = json.loads((tmp_path / "out" / "exposure.json").read_text())
    assert (tmp_path / "out" / "exposure.png").stat().st_size > 0
    assert set(data) == {"tf"} and data == json.loads(json.dumps(result))
    entry = data["tf"]
    assert len(entry["kl_free"]) == len(entry["kl_teacher_forced"]) == 12
    assert entry["mean_kl_free"] > 0 and entry["mean_kl_teacher_forced"] > 0
    copy = tiny_run(tmp_path, "copy", "copy", 3)
    with pytest.raises(ValueError, match="trained on task 'copy'"):
        diagnose_exposure([str(copy)], tmp_path / "out2")
