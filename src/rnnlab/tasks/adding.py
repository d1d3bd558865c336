"""The adding problem (Hochreiter & Schmidhuber 1997; the uRNN paper's variant)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from rnnlab._checks import check_positive
from rnnlab.tasks.base import Batch, GeneratedTask

ADDING_BASELINE = 1.0 / 6.0  # MSE of always predicting 1: Var(U1 + U2) = 2/12


def make_adding_batch(T: int, batch_size: int, generator: torch.Generator) -> Batch:
    """One batch of the adding problem.

    Each step carries ``(value ~ U[0, 1], marker)``; exactly one marker lies in
    ``[0, T/2)`` and one in ``[T/2, T)``; the target is the sum of the two marked values.
    Shapes: ``x (B, T, 2)``, ``y (B, 1)``.
    """
    if T < 2:
        raise ValueError(f"T must be at least 2 for the adding problem, got {T}")
    values = torch.rand(batch_size, T, generator=generator)
    half = T // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, T, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, T)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = (values * markers).sum(1, keepdim=True)
    return Batch(torch.stack([values, markers], dim=-1), target)


class AddingTask(GeneratedTask):
    """Adding problem: the sum of the two marked values among ``T`` (MSE, baseline 0.167).

    Training draws fresh sequences for every batch.
    """

    name: ClassVar[str] = "adding"
    description: ClassVar[str] = "adding problem: sum of the two marked values among T (MSE)"
    defaults: ClassVar[dict[str, Any]] = dict(
        model="lstm",
        hidden_size=128,
        batch_size=64,
        steps=6000,
        lr=1e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=250,
    )

    # Orthogonal / unitary recurrences: RMSprop, recurrence matrix at a 10x smaller rate
    model_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        name: dict(
            hidden_size=hidden,
            batch_size=64,
            steps=6000,
            optimizer="rmsprop",
            lr=1e-3,
            manifold_lr=1e-4,
        )
        for name, hidden in (("exprnn", 170), ("cayley", 170), ("urnn", 128), ("fullurnn", 128))
    }

    def __init__(self, T: int = 200, seed: int = 0) -> None:
        check_positive("T", T)
        self.T = T
        self.seed = seed
        self.kind = "regress"
        self.input_size = 2
        self.output_size = 1
        self.main_metric = "mse"
        self.higher_is_better = False
        self.baseline = ADDING_BASELINE

    def training_defaults(self, model: str | None = None) -> dict[str, Any]:
        # chrono initialisation of gated cells: a marked value is needed up to T steps later
        return {**super().training_defaults(model), "chrono_delay": self.T}

    def options(self) -> dict[str, Any]:
        return {"T": self.T}

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        return make_adding_batch(self.T, batch_size, generator)
