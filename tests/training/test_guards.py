"""Behaviours that plausible slips would break silently: professor forcing's gates at their
defaults and its generator's label and samples, scheduled sampling's per-token coin, and
clipping bounding the global norm of the applied update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.layers import build_layers
from rnnlab.models import LanguageModel, build_model
from rnnlab.tasks.registry import build_task
from rnnlab.training import professor_forcing as pf_module
from rnnlab.training.professor_forcing import ProfessorForcing, free_running_run, generator_term
from rnnlab.training.rng import seed_everything
from rnnlab.training.scheduled_sampling import scheduled_sampling_forward


def _lm() -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(7, build_layers("gru", 5, 6))


@pytest.mark.parametrize(
    ("accuracy", "trains_d", "uses_g"),
    [(0.5, True, False), (0.75, True, False), (0.8, True, True), (0.99, False, True)],
)
def test_professor_forcing_gates_at_the_papers_defaults(
    monkeypatch: pytest.MonkeyPatch, accuracy: float, trains_d: bool, uses_g: bool
) -> None:
    """Lamb et al. (2016): D trains only while its accuracy is below 99%, the adversarial
    term applies only while it is above 75% (both strict)."""
    real = pf_module.discriminator_loss

    def forced(d: nn.Module, tf: Tensor, fr: Tensor) -> tuple[Tensor, float]:
        return real(d, tf, fr)[0], accuracy

    monkeypatch.setattr(pf_module, "discriminator_loss", forced)
    lm = _lm()
    pf = ProfessorForcing(6)  # the defaults: d_max_accuracy 0.99, g_min_accuracy 0.75
    before = [p.detach().clone() for p in pf.discriminator.parameters()]
    x = torch.randint(7, (4, 5))
    _, _, adversarial = pf.forward(lm, x, generator=torch.Generator().manual_seed(0))
    changed = any(
        not torch.equal(a, p) for a, p in zip(before, pf.discriminator.parameters(), strict=True)
    )
    assert changed == trains_d
    assert (adversarial.requires_grad and float(adversarial.detach()) > 0) == uses_g


class _Fixed(nn.Module):
    """A discriminator whose logit is the mean of the behaviour (D = P(teacher-forced))."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, behaviour: Tensor) -> Tensor:
        return self.w * behaviour.mean(dim=(1, 2))


def test_the_generator_term_pushes_free_running_towards_teacher_forced() -> None:
    """A gradient step on -log D(free-running) raises D, the probability of the label
    "teacher-forced" for the free-running behaviour."""
    d = _Fixed()
    fr = torch.zeros(3, 4, 2, requires_grad=True)
    generator_term(d, fr).backward()
    assert fr.grad is not None
    moved = (fr - 0.1 * fr.grad).detach()
    assert float(d(moved).mean()) > float(d(fr.detach()).mean())
    assert d.w.grad is None  # the discriminator is not trained by the generator's term


def test_free_running_feeds_samples_not_the_argmax() -> None:
    lm = _lm().eval()
    start = torch.zeros(64, dtype=torch.long)
    logits, _, tokens = free_running_run(lm, start, 4, None, torch.Generator().manual_seed(0))
    argmax = logits[:, :-1].argmax(-1)
    assert not torch.equal(tokens[:, 1:], argmax)  # a near-uniform model: samples differ
    assert len(set(tokens[:, 1].tolist())) > 2


class _Recorder(nn.Module):
    """Predicts (previous + 1) mod V with certainty and records what it is fed."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.fed: list[Tensor] = []

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        self.fed.append(token.clone())
        logits = torch.full((token.shape[0], self.vocab), -1e9)
        logits[torch.arange(token.shape[0]), (token + 1) % self.vocab] = 0.0
        return logits, state


def test_the_scheduled_sampling_coin_is_per_token() -> None:
    """The true token (0) or the model's sample (never 0 here) is chosen for each token:
    rows and columns alike mix both, which a coin per sequence or per step would not."""
    model = _Recorder(50)
    x = torch.zeros(200, 12, dtype=torch.long)
    scheduled_sampling_forward(model, x, 0.5, generator=torch.Generator().manual_seed(0))
    teacher = torch.stack(model.fed, dim=1)[:, 1:] == 0
    mixed_rows = (teacher.any(1) & ~teacher.all(1)).float().mean()
    mixed_columns = (teacher.any(0) & ~teacher.all(0)).float().mean()
    assert float(mixed_rows) > 0.95 and float(mixed_columns) == 1.0


def test_clipping_bounds_the_global_norm_of_the_update(tmp_path: Path) -> None:
    """SGD at lr 1 with clip c moves the weights by exactly c (the first step's momentum
    buffer is the clipped gradient): the norm over all parameters together."""
    config = RunConfig(
        task="copy",
        task_options=TaskOptions(T=4),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(steps=1, batch_size=8, optimizer="sgd", lr=1.0, clip=1e-3),
    )
    rnnlab.train(config, tmp_path, progress=False)
    seed_everything(0)
    start = build_model(config.model, build_task("copy", TaskOptions(T=4)).spec).state_dict()
    end = torch.load(tmp_path / "trainer.pt", weights_only=True)["model"]
    moved = torch.sqrt(sum(((end[k] - start[k]).double() ** 2).sum() for k in start))
    assert float(moved) == pytest.approx(1e-3, rel=1e-4)
