"""Parameter counts of configured models, and the hidden size that matches a count.

Comparisons "at equal parameter count" (an mLSTM against an LSTM) need, for each model,
the hidden size whose model has about as many parameters as the reference;
:func:`hidden_size_for` finds it by bisection (counts grow with the hidden size).
"""

from __future__ import annotations

import dataclasses

from rnnlab._checks import check_positive
from rnnlab.models.build import ModelConfig, build_model

MAX_HIDDEN = 1 << 16


def count_model_parameters(
    config: ModelConfig, kind: str, input_size: int, output_size: int
) -> int:
    """Parameters of ``build_model(config, kind, input_size, output_size)`` (embedding,
    layers and head)."""
    model = build_model(config, kind, input_size, output_size)
    return sum(p.numel() for p in model.parameters())


def hidden_size_for(
    config: ModelConfig, kind: str, input_size: int, output_size: int, target: int
) -> int:
    """The hidden size whose model (``config`` with that ``hidden_size``) has the parameter
    count closest to ``target`` (the smaller one on a tie).

    Example::

        lstm = ModelConfig("lstm", hidden_size=512)
        n = count_model_parameters(lstm, "lm", 66, 66)
        h = hidden_size_for(ModelConfig("mlstm"), "lm", 66, 66, n)
    """
    check_positive("target", target)

    def count(hidden: int) -> int:
        sized = dataclasses.replace(config, hidden_size=hidden)
        return count_model_parameters(sized, kind, input_size, output_size)

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
