"""Scheduled sampling: its schedules and the per-token coin flip."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from rnnlab.layers import build_layers
from rnnlab.models import LanguageModel
from rnnlab.tasks.base import Batch
from rnnlab.training.scheduled_sampling import SamplingSchedule, scheduled_sampling_forward


def test_schedules() -> None:
    linear = SamplingSchedule("linear", k=1.0, c=0.01, minimum=0.2)
    assert linear.teacher_probability(0) == 1.0
    assert linear.teacher_probability(50) == pytest.approx(0.5)
    assert linear.teacher_probability(1000) == 0.2
    exponential = SamplingSchedule("exponential", k=0.99)
    assert exponential.teacher_probability(100) == pytest.approx(0.99**100)
    inverse = SamplingSchedule("inverse_sigmoid", k=10.0)
    assert inverse.teacher_probability(0) == pytest.approx(10 / 11)
    assert inverse.teacher_probability(50) == pytest.approx(10 / (10 + math.exp(5)))
    assert inverse.teacher_probability(10**6) < 1e-300
    with pytest.raises(ValueError, match="'cosine'"):
        SamplingSchedule("cosine")
    with pytest.raises(ValueError, match="k >= 1"):
        SamplingSchedule("inverse_sigmoid", k=0.5)


def test_full_teacher_probability_is_teacher_forcing() -> None:
    torch.manual_seed(0)
    lm = LanguageModel(9, build_layers("gru", 6, 8)).double().eval()
    x = torch.randint(9, (4, 7))
    logits, _ = scheduled_sampling_forward(lm, x, 1.0)
    torch.testing.assert_close(logits, lm(Batch(x))[0])


class Recorder(nn.Module):
    """Predicts token (previous + 1) mod V with certainty and records what it is fed."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.fed: list[Tensor] = []

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        self.fed.append(token.clone())
        logits = torch.full((token.shape[0], self.vocab), -1e9)
        logits[torch.arange(token.shape[0]), (token + 1) % self.vocab] = 0.0
        return logits, state


def test_zero_teacher_probability_feeds_the_model_its_own_samples() -> None:
    model = Recorder(5)
    x = torch.zeros(3, 6, dtype=torch.long)  # the true tokens are all 0
    scheduled_sampling_forward(model, x, 0.0)
    fed = torch.stack(model.fed, dim=1)
    assert torch.equal(fed, torch.arange(6).remainder(5).expand(3, 6))


def test_mixing_rate_matches_the_teacher_probability() -> None:
    model = Recorder(50)
    x = torch.zeros(2000, 3, dtype=torch.long)
    scheduled_sampling_forward(model, x, 0.3, generator=torch.Generator().manual_seed(0))
    fed = torch.stack(model.fed, dim=1)
    # at t=1 the model would feed 1, the truth is 0
    assert float((fed[:, 1] == 0).float().mean()) == pytest.approx(0.3, abs=0.03)
