"""Generating from a vec->seq model: its initial state from the condition, then the usual
one-step decoders."""

from __future__ import annotations

from typing import Any, Protocol, cast, runtime_checkable

import torch
from torch import Tensor, nn

from rnnlab.cells import decoding
from rnnlab.cells.base import State
from rnnlab.decoding.sampling import greedy, sample


@runtime_checkable
class ConditionalModel(Protocol):
    """What :func:`generate` needs of a vec->seq model (e.g.
    :class:`rnnlab.models.ConditionalGenerator`): an ``nn.Module`` with a state built from
    the condition, a start symbol and one step."""

    training: bool

    def initial_state(self, condition: Tensor) -> State:
        """``condition (B, C)`` -> the state before the first step."""
        ...

    def start(self, batch: int) -> Tensor:
        """``(batch,)`` long: the start symbol read at the first step."""
        ...

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """``tokens (B,)`` and the state -> ``logits (B, V)`` and the next state."""
        ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


def generate(
    model: ConditionalModel,
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
        with torch.no_grad(), decoding(cast(nn.Module, model)):
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
