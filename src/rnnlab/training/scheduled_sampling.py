"""Scheduled sampling (Bengio, Vinyals, Jaitly & Shazeer 2015) for generative models.

Teacher forcing feeds the true previous token :math:`x_{t-1}` at every step; generation
feeds the model's own sample, and the mismatch compounds errors (exposure bias). Scheduled
sampling flips a coin per token: with probability :math:`\\epsilon_i` (the teacher
probability at training step :math:`i`) the true token, otherwise a sample from the model's
own previous prediction. :math:`\\epsilon_i` decays over training:

* linear: :math:`\\epsilon_i = \\max(\\epsilon_{min}, k - c\\, i)`
* exponential: :math:`\\epsilon_i = k^i` (:math:`k < 1`)
* inverse sigmoid: :math:`\\epsilon_i = k / (k + \\exp(i / k))` (:math:`k \\ge 1`)

Huszar (2015) shows the objective is inconsistent (it does not recover the data
distribution in the limit), so whether it helps is an empirical question:
``rnnlab diagnose exposure`` measures it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_unit_interval
from rnnlab.cells import decoding
from rnnlab.cells.base import State
from rnnlab.training.distributed import sample_rows, uniform_rows

SCHEDULES = ("linear", "exponential", "inverse_sigmoid")


@dataclass(frozen=True)
class SamplingSchedule:
    """The teacher probability :math:`\\epsilon_i` as a function of the training step."""

    kind: str = "inverse_sigmoid"
    k: float = 500.0
    c: float = 1e-4
    minimum: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(
                f"unknown scheduled-sampling schedule {self.kind!r}; expected one of "
                f"{', '.join(SCHEDULES)}"
            )
        if self.kind == "exponential" and not 0.0 < self.k < 1.0:
            raise ValueError(f"the exponential schedule needs 0 < k < 1, got k={self.k}")
        if self.kind == "inverse_sigmoid" and not self.k >= 1.0:
            raise ValueError(f"the inverse-sigmoid schedule needs k >= 1, got k={self.k}")
        check_unit_interval("minimum teacher probability", self.minimum, closed=True)

    def teacher_probability(self, step: int) -> float:
        if self.kind == "linear":
            value = self.k - self.c * step
        elif self.kind == "exponential":
            value = self.k**step
        else:
            value = self.k / (self.k + math.exp(min(step / self.k, 700.0)))
        return min(1.0, max(self.minimum, value))


def scheduled_sampling_forward(
    model: torch.nn.Module,
    x: Tensor,
    teacher_probability: float,
    state: State | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, State]:
    """Run a generative model over ``x (B, T)`` feeding, at each step after the first, the
    true token with probability ``teacher_probability`` and otherwise a token sampled from
    the model's prediction at the previous step (per token, as in Bengio et al. 2015).

    The model needs ``step(token (B,), state) -> (logits (B, V), state)``; the samples are
    not differentiated through (the paper's choice). Returns logits ``(B, T, V)`` and the
    final state. With ``teacher_probability = 1`` this equals teacher forcing. The loop runs
    inside :func:`rnnlab.cells.decoding`, so derived recurrent weights (and their backward)
    are computed once per call, not once per token.
    """
    check_unit_interval("teacher_probability", teacher_probability, closed=True)
    if x.dim() != 2:
        raise ValueError(f"input must be token ids of shape (B, T), got {tuple(x.shape)}")
    step = getattr(model, "step", None)
    if not callable(step):
        raise TypeError(f"scheduled sampling needs a model with step(), got {type(model).__name__}")
    outputs: list[Tensor] = []
    token = x[:, 0]
    with decoding(model):
        for t in range(x.shape[1]):
            if t > 0:
                previous = outputs[-1].detach()
                sampled = sample_rows(torch.softmax(previous.float(), dim=-1), generator)
                coin = uniform_rows(x.shape[0], generator, x.device)
                token = torch.where(coin < teacher_probability, x[:, t], sampled)
            logits, state = step(token, state)
            outputs.append(logits)
    return torch.stack(outputs, dim=1), state
