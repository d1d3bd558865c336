"""Numerical faults: a non-finite loss, gradient or weight, caught at the step it appears.

The loop checks every step's loss (and the objective's total, auxiliary terms included) and
the global gradient norm before the optimiser steps (the norm is already computed for
clipping, so the check costs nothing), and the weights before every evaluation and
checkpoint. What happens on a fault is ``TrainConfig.on_nan``:

* ``stop`` (the default): the step is not applied, nothing more is saved (the run folder
  keeps its last finite checkpoint), ``summary.json`` records ``"stopped": "diverged"`` and
  the fault, and :class:`NonFiniteError` is raised (``rnnlab train`` exits 1).
* ``skip``: the step's update is dropped (its batch is skipped, a streaming task's carried
  state restarts) and the learning rate is halved, at most ``TrainConfig.nan_skips``
  times; the next fault stops the run as above. Weights that are already non-finite
  cannot be skipped past and stop the run at once.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ON_NAN = ("stop", "skip")


class NonFiniteError(ArithmeticError):
    """A training run met a NaN or Inf (the message names the step and the quantity)."""


def step_fault(step: int, loss: float, total: float, grad_norm: float) -> str | None:
    """A one-line description of what is non-finite at training step ``step`` (1-based),
    or ``None`` when the loss, the differentiated total and the gradient norm are finite."""
    if not math.isfinite(loss):
        return f"non-finite loss ({loss}) at step {step}"
    if not math.isfinite(total):
        return (
            f"non-finite objective ({total}, the loss {loss} plus auxiliary terms) at step {step}"
        )
    if not math.isfinite(grad_norm):
        return f"non-finite gradient (global norm {grad_norm}) at step {step}"
    return None


def weights_fault(model: nn.Module, step: int) -> str | None:
    """A one-line description when a weight of ``model`` is non-finite after ``step``."""
    bad = [
        name
        for name, t in model.state_dict().items()
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all())
    ]
    if not bad:
        return None
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    return f"non-finite weights ({bad[0]}{more}) after step {step}"
