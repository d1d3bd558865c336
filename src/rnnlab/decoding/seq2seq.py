"""Decoding whole source batches with an encoder-decoder: greedy or beam search, in
length-sorted chunks, optionally with the attention weights of every output token.

The model needs ``encode(src, lengths) -> state`` and the one-step protocol
``step(tokens, state) -> (logits, state)`` (e.g. :class:`rnnlab.models.EncoderDecoder`,
whose state carries its last attention weights as ``state.attention``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells import decoding
from rnnlab.decoding.base import check_max_length
from rnnlab.decoding.beam import beam_search
from rnnlab.decoding.sampling import greedy_iter

BOS, EOS = 1, 2  # the token conventions of rnnlab.tasks.tokens


class Decoded(NamedTuple):
    """One output per source, in the order of the sources."""

    tokens: list[list[int]]  # generated ids, cut before EOS
    attention: list[Tensor] | None  # per source (L_out, S) weights over its real positions


def decode_sources(
    model: Any,
    src: Tensor,
    lengths: Tensor,
    max_length: int,
    *,
    beam_size: int = 1,
    length_penalty: float = 0.6,
    batch_size: int = 256,
    attention: bool = False,
) -> Decoded:
    """Decode every row of ``src (N, S)`` (lengths ``(N,)``).

    Rows are sorted by source length and decoded ``batch_size`` sources at a time (with
    beam search, ``batch_size * beam_size`` rows per step: all beams of all sentences in
    one batch). ``beam_size = 1`` decodes greedily. With ``attention=True`` the weights of
    every output token (``EOS`` included) come back too. Runs without gradients, in eval
    mode and inside :func:`rnnlab.cells.decoding`.

    Example::

        out = decode_sources(model, batch.x, batch.lengths, 51, beam_size=5)
        text = [task.decode_target(ids) for ids in out.tokens]
    """
    check_max_length(max_length)
    check_positive("beam_size", beam_size)
    check_positive("batch_size", batch_size)
    N = src.shape[0]
    order = torch.argsort(lengths.cpu(), stable=True).tolist()
    tokens: list[list[int]] = [[] for _ in range(N)]
    maps: list[Tensor] = [torch.empty(0) for _ in range(N)]
    device = src.device
    was_training = model.training
    model.eval()
    with torch.no_grad(), decoding(model):
        for start in range(0, N, batch_size):
            rows = order[start : start + batch_size]
            index = torch.tensor(rows, device=device)
            length = lengths.to(device).index_select(0, index)
            S = int(length.max())
            x = src.index_select(0, index)[:, :S]
            state = model.encode(x, length)
            if attention and not hasattr(state, "attention"):
                raise ValueError(
                    f"{type(model).__name__} does not report attention weights while "
                    "decoding (its state has no 'attention'); attention maps come from the "
                    "rnn family's encoder-decoders (--attention general/dot/additive)"
                )
            first = torch.full((len(rows),), BOS, dtype=torch.long, device=device)
            out, weights = _decode_chunk(
                model, state, first, max_length, beam_size, length_penalty, attention
            )
            for j, row in enumerate(rows):
                ids = out[j]
                n = ids.index(EOS) if EOS in ids else len(ids)
                tokens[row] = ids[:n]
                if weights is not None:
                    steps = min(n + 1, weights.shape[1])
                    maps[row] = weights[j, :steps, : int(length[j])].cpu()
    model.train(was_training)
    return Decoded(tokens, maps if attention else None)


def _decode_chunk(
    model: Any,
    state: Any,
    first: Tensor,
    max_length: int,
    beam_size: int,
    length_penalty: float,
    attention: bool,
) -> tuple[list[list[int]], Tensor | None]:
    """Token lists (with EOS and padding) and optionally ``(B, L, S)`` attention weights."""
    if beam_size > 1:
        record = (lambda s: s.attention) if attention else None
        result = beam_search(
            model.step,
            state,
            first,
            beam_size,
            max_length,
            EOS,
            length_penalty=length_penalty,
            record=record,
        )
        extras = None if result.extras is None else result.extras[:, 0]
        return result.tokens[:, 0].tolist(), extras
    recorded: list[Tensor] = []

    def step(tokens: Tensor, s: Any) -> tuple[Tensor, Any]:
        logits, s = model.step(tokens, s)
        if attention:
            recorded.append(s.attention)
        return logits, s

    steps = list(greedy_iter(step, state, first, max_length, eos=EOS))
    out = torch.stack(steps, dim=1).tolist()
    return out, torch.stack(recorded, dim=1) if attention else None
