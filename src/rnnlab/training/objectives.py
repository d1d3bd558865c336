"""Training objectives: how a batch becomes a loss. One module per way of training.

Each objective is an ``nn.Module`` that holds the model and has one forward::

    step = objective(batch, state, step_index)   # -> ObjectiveStep(loss, total, state)

``loss`` is the task's likelihood loss (what is logged), ``total`` what is differentiated
(the loss plus any auxiliary term), ``state`` the model's state after the batch (carried
across batches by streaming tasks). The loop never looks inside: wrapping the objective in
``DistributedDataParallel`` synchronises every gradient of the model.

* :class:`TeacherForcing`: the model reads the true previous outputs (maximum likelihood).
* :class:`ScheduledSampling`: per token, the true previous token with probability
  ``p(step)``, else one sampled from the model (Bengio et al. 2015).
* :class:`ProfessorForcingObjective`: teacher forcing plus an adversarial term that makes
  free-running hidden states look teacher-forced (Lamb et al. 2016).
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from rnnlab.models.base import TokenGenerator
from rnnlab.tasks.base import Task
from rnnlab.training.config import TrainConfig
from rnnlab.training.professor_forcing import ProfessorForcing
from rnnlab.training.scheduled_sampling import SamplingSchedule, scheduled_sampling_forward

State = Any


class ObjectiveStep(NamedTuple):
    loss: Tensor  # the task's loss on the batch (0-dim)
    total: Tensor  # what backward() runs on: the loss plus auxiliary terms
    state: State  # the model's state after the batch


class Objective(nn.Module):
    """Base of the objectives: the model and the task it is trained on."""

    def __init__(self, model: nn.Module, task: Task) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def stats(self, step: int) -> dict[str, float]:
        """Figures for the ``train`` line of ``metrics.jsonl`` logged at ``step`` (means
        since the last call where they are averages)."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """What a checkpoint must hold of the objective itself (for an exact resume)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` from a checkpoint's state."""

    def forward(self, batch: Any, state: State, step: int) -> ObjectiveStep:
        raise NotImplementedError

    def _loss(self, outputs: Tensor, batch: Any) -> Tensor:
        return self.task.loss(outputs.float(), batch)  # float: bfloat16 autocast outputs


class TeacherForcing(Objective):
    """Maximum likelihood with the true inputs: ``task.loss(model(batch, state), batch)``."""

    def forward(self, batch: Any, state: State, step: int) -> ObjectiveStep:
        outputs, state = self.model(batch, state)
        loss = self._loss(outputs, batch)
        return ObjectiveStep(loss, loss, state)


def _generator(model: nn.Module, what: str) -> TokenGenerator:
    if not isinstance(model, TokenGenerator):
        raise ValueError(
            f"{what} needs a generative model, one that emits tokens step by step (step, "
            f"teacher_tokens), not {type(model).__name__}"
        )
    return model


class GenerativeObjective(Objective):
    """An objective that steps the model token by token: the model is checked once, here,
    against :class:`~rnnlab.models.base.TokenGenerator` (``what`` names the objective)."""

    def __init__(self, model: nn.Module, task: Task, what: str) -> None:
        super().__init__(model, task)
        _generator(model, what)

    @property
    def generator(self) -> TokenGenerator:
        """The model, as the one-step protocol (checked in ``__init__``)."""
        return cast(TokenGenerator, self.model)


class ScheduledSampling(GenerativeObjective):
    """Scheduled sampling over the model's one-step protocol: at step ``t > 1`` the token
    read is the true one with probability ``schedule.teacher_probability(step)``, else a
    sample of the model's previous prediction (per token)."""

    def __init__(self, model: nn.Module, task: Task, schedule: SamplingSchedule) -> None:
        super().__init__(model, task, "scheduled sampling")
        self.schedule = schedule

    def forward(self, batch: Any, state: State, step: int) -> ObjectiveStep:
        tokens, start = self.generator.teacher_tokens(batch, state)
        p = self.schedule.teacher_probability(step)
        outputs, state = scheduled_sampling_forward(self.model, tokens, p, start)
        loss = self._loss(outputs, batch)
        return ObjectiveStep(loss, loss, state)

    def stats(self, step: int) -> dict[str, float]:
        return {"teacher_probability": self.schedule.teacher_probability(step)}


class ProfessorForcingObjective(GenerativeObjective):
    """Teacher forcing plus professor forcing's adversarial term (its discriminator and
    optimiser live in :attr:`pf` and are saved with the trainer's state)."""

    def __init__(self, model: nn.Module, task: Task, pf: ProfessorForcing) -> None:
        super().__init__(model, task, "professor forcing")
        self.pf = pf

    def forward(self, batch: Any, state: State, step: int) -> ObjectiveStep:
        tokens, start = self.generator.teacher_tokens(batch, state)
        outputs, state, adversarial = self.pf.forward(self.model, tokens, start)
        loss = self._loss(outputs, batch)
        return ObjectiveStep(loss, loss + adversarial, state)

    def stats(self, step: int) -> dict[str, float]:
        return self.pf.window_stats()

    def extra_state(self) -> dict[str, Any]:
        return {"professor_forcing": self.pf.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pf.load_state_dict(state["professor_forcing"])


def make_objective(model: nn.Module, task: Task, cfg: TrainConfig) -> Objective:
    """The objective ``cfg`` asks for (teacher forcing unless scheduled sampling or
    professor forcing is set); a one-line error when the model cannot be trained so."""
    schedule = cfg.sampling_schedule()
    if schedule is not None:
        return ScheduledSampling(model, task, schedule)
    if cfg.professor_forcing:
        _generator(model, "professor forcing")
        return ProfessorForcingObjective(model, task, ProfessorForcing.from_config(model, cfg))
    return TeacherForcing(model, task)


def autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """``--bf16``: matmuls and fused kernels in bfloat16, weights and optimiser in float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
