"""Optimisers and learning-rate schedules from a :class:`TrainConfig`; schedules run on the
run's progress (:func:`progress`), steps or time, whichever is further along."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from rnnlab.cells.base import Cell
from rnnlab.training.config import TrainConfig


def parameter_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """One group for every parameter, and, when ``cfg.manifold_lr`` is set, a second group
    at that rate, without weight decay, for the cells' ``manifold_parameters()`` (the
    orthogonal / unitary recurrences, which published recipes train ~10x slower)."""
    manifold: list[nn.Parameter] = []
    if cfg.manifold_lr is not None:
        for module in model.modules():
            if isinstance(module, Cell):
                manifold.extend(module.manifold_parameters())
    ids = {id(p) for p in manifold}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups: list[dict[str, Any]] = [
        {"params": rest, "lr": cfg.lr, "peak_lr": cfg.lr, "name": "default"}
    ]
    if manifold:
        groups.append(
            {
                "params": manifold,
                "lr": cfg.manifold_lr,
                "peak_lr": cfg.manifold_lr,
                "weight_decay": 0.0,
                "name": "manifold",
            }
        )
    return groups


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW, RMSprop or SGD (with ``cfg.momentum``) over :func:`parameter_groups`."""
    groups = parameter_groups(model, cfg)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def run_progress(step: int, train_time: float, cfg: TrainConfig) -> float:
    """The fraction of the run done: the larger of the steps done and, with a time budget,
    the training time spent (so a ``--max-time`` run that stops early still completes its
    schedules). Capped at 1."""
    done = step / cfg.steps
    if cfg.max_time is not None:
        done = max(done, train_time / cfg.max_time)
    return min(1.0, done)


def lr_factor(step: int, cfg: TrainConfig, time_fraction: float = 0.0) -> float:
    r"""Multiplier of the peak rate at ``step``.

    Linear warm-up :math:`(s+1)/w` for :math:`s < w`, then ``constant`` 1, ``linear``
    :math:`1 - p`, ``cosine`` :math:`\tfrac12(1 + \cos \pi p)` or ``step``
    :math:`\gamma^{\lfloor \max(0, s - w - s_0) / E \rfloor}` (``decay_factor``
    :math:`\gamma` every ``decay_every`` :math:`E` steps after ``decay_start`` :math:`s_0`),
    with
    :math:`p = \max((s - w) / (S - w), \tau)` the fraction of the post-warm-up steps done
    or, when larger, ``time_fraction`` :math:`\tau` (training time over ``max_time``).
    """
    warm = cfg.warmup_steps
    if step < warm:
        return (step + 1) / warm
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return float(cfg.decay_factor ** (max(0, step - warm - cfg.decay_start) // cfg.decay_every))
    done = min(1.0, max((step - warm) / max(1, cfg.steps - warm), time_fraction))
    if cfg.schedule == "linear":
        return 1.0 - done
    return 0.5 * (1.0 + math.cos(math.pi * done))


def set_learning_rate(
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    step: int,
    train_time: float,
    scale: float = 1.0,
) -> None:
    """Set every group's rate for training step ``step`` (0-based) after ``train_time``
    seconds: its peak rate times :func:`lr_factor` times ``scale`` (halved by each step
    ``--on-nan skip`` skips). A function of the step, the time and the scale only, so a
    resumed run continues the same schedule."""
    tau = train_time / cfg.max_time if cfg.max_time is not None else 0.0
    factor = lr_factor(step, cfg, tau) * scale
    for group in optimizer.param_groups:
        # a trainer.pt written before peak_lr existed has LambdaLR's initial_lr instead
        peak = group.setdefault("peak_lr", group.get("initial_lr", group["lr"]))
        group["lr"] = peak * factor
