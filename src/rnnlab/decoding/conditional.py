"""Generating from a vec->seq model: its initial state from the condition, then the usual
one-step decoders."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.cells import decoding
from rnnlab.decoding.sampling import greedy, sample
from rnnlab.models.conditional import ConditionalGenerator


def generate(
    model: ConditionalGenerator,
    condition: Tensor,
    length: int,
    *,
    greedy_decoding: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``(B, length)`` tokens from ``model`` given ``condition (B, C)``.

    Runs :func:`rnnlab.decoding.sample` (or :func:`rnnlab.decoding.greedy` with
    ``greedy_decoding``) over ``model.step`` from ``model.initial_state(condition)`` and the
    start symbol, without gradients, in eval mode (the model's mode is restored) and inside
    :func:`rnnlab.cells.decoding` (derived recurrent weights computed once, not per token).

    Example::

        g = torch.Generator().manual_seed(0)
        tokens = generate(model, torch.eye(10)[[3, 3, 7]], 40, generator=g)  # (3, 40)
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), decoding(model):
            state = model.initial_state(condition)
            start = model.start(condition.shape[0])
            if greedy_decoding:
                return greedy(model.step, state, start, length)
            return sample(
                model.step,
                state,
                start,
                length,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                generator=generator,
            )
    finally:
        model.train(was_training)
