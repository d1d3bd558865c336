"""Training options a published recipe needs (MemN2N's: plain SGD, a rate halved every E
steps, the loss summed over the batch) and the loop's ``on_validation`` hook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.training.optim import lr_factor, make_optimizer


def test_the_step_schedule_multiplies_the_rate_every_decay_every_steps() -> None:
    cfg = TrainConfig(steps=100, schedule="step", decay_every=25, decay_factor=0.5)
    assert [lr_factor(s, cfg) for s in (0, 24, 25, 49, 50, 99)] == [1, 1, 0.5, 0.5, 0.25, 0.125]
    warm = TrainConfig(steps=100, schedule="step", decay_every=10, warmup_steps=5)
    assert lr_factor(14, warm) == 1.0 and lr_factor(15, warm) == 0.5
    # the official MemN2N code: 20 epochs at the peak (linear start), then halved every 25
    held = TrainConfig(steps=120, schedule="step", decay_every=25, decay_start=20)
    assert [lr_factor(s, held) for s in (0, 19, 20, 44, 45, 70, 119)] == [
        1,
        1,
        1,
        1,
        0.5,
        0.25,
        0.125,
    ]
    with pytest.raises(ValueError, match="decay_start must be an integer >= 0"):
        TrainConfig(decay_start=-1)
    for bad in (dict(decay_factor=0.0), dict(decay_factor=1.5), dict(momentum=1.0)):
        with pytest.raises(ValueError, match="must be in"):
            TrainConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loss_reduction"):
        TrainConfig(loss_reduction="max")


def test_momentum_reaches_sgd() -> None:
    model = torch.nn.Linear(2, 2)
    assert make_optimizer(model, TrainConfig(optimizer="sgd")).param_groups[0]["momentum"] == 0.9
    plain = make_optimizer(model, TrainConfig(optimizer="sgd", momentum=0.0))
    assert plain.param_groups[0]["momentum"] == 0.0


def _run(tmp: Path, **train: Any) -> dict[str, torch.Tensor]:
    config = RunConfig(
        "copy",
        TaskOptions(T=4),
        RNNConfig(cell="gru", hidden_size=6),
        TrainConfig(steps=3, batch_size=8, eval_every=3, optimizer="sgd", momentum=0.0, **train),
    )
    rnnlab.train(config, tmp, progress=False)
    return load_file(tmp / "last.safetensors")


def test_a_summed_loss_is_the_mean_times_the_batch(tmp_path: Path) -> None:
    """Plain SGD on the sum at rate r takes the steps of the mean at rate 8 r (B = 8)."""
    summed = _run(tmp_path / "sum", lr=0.01, loss_reduction="sum", clip=None)
    mean = _run(tmp_path / "mean", lr=0.08, clip=None)
    other = _run(tmp_path / "other", lr=0.01, clip=None)
    for name, weight in summed.items():
        torch.testing.assert_close(weight, mean[name], rtol=1e-4, atol=1e-6)
    assert any(not torch.allclose(w, other[n]) for n, w in summed.items())
    lines = [json.loads(x) for x in (tmp_path / "sum" / "metrics.jsonl").read_text().splitlines()]
    train = next(x for x in lines if x["split"] == "train")
    assert train["loss"] < 5  # logged as a mean (nats per step), not a sum over 8 rows


class _Watcher(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, float]] = []

    def on_validation(self, metrics: dict[str, float]) -> None:
        self.seen.append(dict(metrics))


def test_modules_see_every_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnlab.training.loop as loop

    watcher = _Watcher()
    original = loop.build_model

    def with_watcher(config: Any, spec: Any) -> torch.nn.Module:
        model = original(config, spec)
        model.add_module("watcher", watcher)
        return model

    monkeypatch.setattr(loop, "build_model", with_watcher)
    config = RunConfig(
        "copy",
        TaskOptions(T=4),
        RNNConfig(cell="gru", hidden_size=6),
        TrainConfig(steps=6, batch_size=4, eval_every=2),
    )
    rnnlab.train(config, tmp_path, progress=False)
    assert len(watcher.seen) == 3 and all("loss" in m for m in watcher.seen)
