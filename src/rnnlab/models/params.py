"""Parameter counts of configured models, and the hidden size that matches a count.

Comparisons "at equal parameter count" (an mLSTM against an LSTM) need, for each model,
the hidden size whose model has about as many parameters as the reference;
:func:`hidden_size_for` finds it by bisection (counts grow with the hidden size).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rnnlab._checks import check_positive
from rnnlab.models.registry import build_model
from rnnlab.tasks.spec import TaskSpec

MAX_HIDDEN = 1 << 16


def count_model_parameters(config: Any, spec: TaskSpec) -> int:
    """Parameters of ``build_model(config, spec)`` (embedding, layers and head)."""
    model = build_model(config, spec)
    return sum(p.numel() for p in model.parameters())


def hidden_size_for(config: Any, spec: TaskSpec, target: int) -> int:
    """The hidden size whose model (``config`` with that ``hidden_size``) has the parameter
    count closest to ``target`` (the smaller one on a tie), for any family whose config
    has ``hidden_size``.

    Example::

        lm = TaskSpec("lm", 66, 66)
        n = count_model_parameters(RNNConfig("lstm", hidden_size=512), lm)
        h = hidden_size_for(RNNConfig("mlstm"), lm, n)
    """
    check_positive("target", target)

    def count(hidden: int) -> int:
        sized = dataclasses.replace(config, hidden_size=hidden)
        return count_model_parameters(sized, spec)

    lo, hi = 1, 1
    while count(hi) < target:  # grow the bracket: count(lo) < target <= count(hi)
        lo, hi = hi, 2 * hi
        if hi > MAX_HIDDEN:
            raise ValueError(f"no hidden size up to {MAX_HIDDEN} reaches {target} parameters")
    if count(lo) >= target:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if target - count(lo) <= count(hi) - target else hi
