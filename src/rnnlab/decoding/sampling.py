r"""Greedy decoding and ancestral sampling over a one-step function.

Both generate :math:`x_1, x_2, \dots` from :math:`P(x_t \mid x_{<t})` one token at a time,
feeding each token back as the next input: greedy takes the most probable token,
:math:`x_t = \arg\max_v z_{t,v}`; sampling draws :math:`x_t \sim \mathrm{softmax}(z_t / T)`
after optional top-k / top-p filtering. See :mod:`rnnlab.decoding.base` for the conventions
on ``state``, ``start``, ``eos`` and ``pad``.

To keep per-step outputs of the model (attention weights, say), record them inside the
step function: greedy and sampling never reorder rows, so row ``b`` of every call belongs to
sequence ``b``. (Beam search does reorder; see ``record`` in
:func:`rnnlab.decoding.beam_search`.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from rnnlab.cells.base import State
from rnnlab.decoding.base import (
    StepFn,
    check_logits,
    check_max_length,
    check_pad,
    check_start,
    check_state_batch,
    check_token,
)
from rnnlab.decoding.filtering import check_top_k, check_top_p, filter_logits


def _decode_iter(
    step: StepFn,
    state: State,
    start: Tensor,
    max_length: int,
    choose: Callable[[Tensor], Tensor],
    eos: int | None,
    pad: int | None,
) -> Iterator[Tensor]:
    """Check the arguments now, then return the generator of the tokens ``choose`` picks."""
    tokens = check_start(start)
    check_max_length(max_length)
    check_token("eos", eos)
    check_pad(pad)
    B = tokens.shape[0]
    check_state_batch(state, B)

    def run(tokens: Tensor, state: State) -> Iterator[Tensor]:
        done = torch.zeros(B, dtype=torch.bool, device=tokens.device)  # (B,)
        for _ in range(max_length):
            logits, state = step(tokens, state)  # (B, V)
            check_logits(logits, B, eos)
            chosen = choose(logits)  # (B,) long
            if eos is None:
                yield chosen
                tokens = chosen
                continue
            yield torch.where(done, eos if pad is None else pad, chosen)
            done = done | (chosen == eos)
            if bool(done.all()):
                return
            # finished rows are fed eos, a valid token id whatever pad is
            tokens = torch.where(done, eos, chosen)

    return run(tokens, state)


def greedy_iter(
    step: StepFn,
    state: State,
    start: Tensor,
    max_length: int,
    *,
    eos: int | None = None,
    pad: int | None = None,
) -> Iterator[Tensor]:
    """Like :func:`greedy`, yielding one ``(B,)`` token tensor per step."""
    return _decode_iter(step, state, start, max_length, _argmax, eos, pad)


def greedy(
    step: StepFn,
    state: State,
    start: Tensor,
    max_length: int,
    *,
    eos: int | None = None,
    pad: int | None = None,
) -> Tensor:
    r"""Greedy decoding: :math:`x_t = \arg\max_v \, \mathrm{step}(x_{t-1}, s_{t-1})_v`.

    Args:
        step: ``step(tokens (B,), state) -> (logits (B, V), state)``.
        state: the state before ``start`` is read, batch-first NamedTuple of tensors.
        start: ``(B,)`` first input token of each row (begin-of-sequence or last prompt token).
        max_length: the most tokens to generate.
        eos: end-of-sequence id; a row that emits it is finished, and decoding stops early
            once every row is.
        pad: emitted by finished rows after their ``eos``; defaults to ``eos``.

    Returns:
        ``(B, L)`` long generated tokens, ``L <= max_length`` (``L < max_length`` only when
        every row emitted ``eos``). Ties go to the lowest token id.

    Example::

        tokens = greedy(model.step, model.initial_state(4), bos.expand(4), 50, eos=eos_id)
    """
    return _stack(greedy_iter(step, state, start, max_length, eos=eos, pad=pad))


def sample_iter(
    step: StepFn,
    state: State,
    start: Tensor,
    max_length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    eos: int | None = None,
    pad: int | None = None,
) -> Iterator[Tensor]:
    """Like :func:`sample`, yielding one ``(B,)`` token tensor per step (for streaming).

    The arguments are checked when it is called, not at the first ``next``.
    """
    check_temperature(temperature)
    check_top_k(top_k)
    check_top_p(top_p)

    def choose(logits: Tensor) -> Tensor:
        dtype = torch.promote_types(logits.dtype, torch.float32)
        z = filter_logits(logits.to(dtype) / temperature, top_k, top_p)  # (B, V)
        probs = z.softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _decode_iter(step, state, start, max_length, choose, eos, pad)


def sample(
    step: StepFn,
    state: State,
    start: Tensor,
    max_length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    eos: int | None = None,
    pad: int | None = None,
) -> Tensor:
    r"""Ancestral sampling: :math:`x_t \sim \mathrm{softmax}(\mathrm{filter}(z_t / T))`.

    With :math:`z_t = \mathrm{step}(x_{t-1}, s_{t-1})` the logits, the temperature ``T``
    sharpens (``T < 1``) or flattens (``T > 1``) the distribution, ``T -> 0`` tends to greedy
    decoding; then :func:`rnnlab.decoding.filter_logits` applies top-k and then top-p.

    Args:
        step, state, start, max_length, eos, pad: as in :func:`greedy`.
        temperature: ``T > 0``.
        top_k: sample among the ``top_k`` most probable tokens only.
        top_p: sample from the nucleus of probability ``top_p`` in ``(0, 1]``.
        generator: source of randomness (on ``start``'s device); the same seed gives the
            same samples.

    Returns:
        ``(B, L)`` long sampled tokens, as in :func:`greedy`.

    Example::

        g = torch.Generator().manual_seed(0)
        tokens = sample(step, state, start, 200, temperature=0.8, top_p=0.95, generator=g)
    """
    tokens = sample_iter(
        step,
        state,
        start,
        max_length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=generator,
        eos=eos,
        pad=pad,
    )
    return _stack(tokens)


def check_temperature(temperature: float) -> None:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")


def _argmax(logits: Tensor) -> Tensor:
    return logits.argmax(dim=-1)


def _stack(tokens: Iterator[Tensor]) -> Tensor:
    return torch.stack(list(tokens), dim=1)  # (B, L); max_length >= 1, so never empty
