"""The one-step protocol every decoder runs over, and the argument checks they share.

A model used for generation exposes one step::

    step(tokens, state) -> (logits, state)      # tokens (B,) long -> logits (B, V)

For a recurrent language model the state is the cell's hidden state, for an
encoder-decoder it is the decoder state (plus whatever it attends over), for a Transformer
the key/value cache. The only contract is the one of :mod:`rnnlab.cells.base`: ``state``
is a (possibly nested) NamedTuple of tensors whose first dimension is the batch, so the
decoders can select, reorder and repeat its rows with
:func:`rnnlab.cells.base.select_rows` without knowing what is inside.

Conventions shared by every decoder in this package:

* ``state`` is the state *before* ``start`` is read: the first call is
  ``step(start, state)`` and its logits give the distribution of the first generated
  token. To continue a prompt ``p_1 .. p_n``, run the model over ``p_1 .. p_{n-1}`` and
  pass ``p_n`` as ``start``; to decode from scratch pass a begin-of-sequence token.
* The returned tokens are the generated ones only (``start`` is not repeated).
* With an ``eos`` token, a row that has emitted ``eos`` is finished: it emits ``pad``
  (which defaults to ``eos``) from then on, and decoding stops as soon as every row is
  finished. Finished rows are still fed to ``step`` (with ``eos`` as input, so ``pad`` need
  not be a valid token id) because the batch is advanced as a whole.
* Everything runs on ``start.device``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells.base import State, map_state

StepFn = Callable[[Tensor, State], tuple[Tensor, State]]
"""``step(tokens (B,) long, state) -> (logits (B, V), state)``: one step of a generator."""


def check_start(start: Tensor) -> Tensor:
    """``start`` as a ``(B,)`` long tensor; a one-line ``ValueError`` unless it is one."""
    if not isinstance(start, Tensor):
        raise ValueError(f"start must be a (B,) tensor of token ids, got {type(start).__name__}")
    if start.dim() != 1 or start.numel() == 0:
        raise ValueError(f"start must have shape (B,) with B >= 1, got {tuple(start.shape)}")
    if start.dtype.is_floating_point or start.dtype.is_complex or start.dtype == torch.bool:
        raise ValueError(f"start must hold integer token ids, got dtype {start.dtype}")
    return start.long()


def check_state_batch(state: State, batch: int) -> None:
    """Raise a one-line ``ValueError`` unless every tensor of ``state`` has ``batch`` rows."""

    def check(t: Tensor) -> Tensor:
        if t.dim() == 0 or t.shape[0] != batch:
            raise ValueError(
                f"every state tensor must have the batch ({batch}) first, got shape "
                f"{tuple(t.shape)}"
            )
        return t

    map_state(check, state)


def check_max_length(max_length: int) -> None:
    check_positive("max_length", max_length)


def check_token(name: str, token: int | None) -> None:
    if token is None:
        return
    if isinstance(token, bool) or not isinstance(token, int) or token < 0:
        raise ValueError(f"{name} must be a non-negative token id, got {token!r}")


def check_pad(pad: int | None) -> None:
    """``pad`` is only emitted, never fed to ``step``: any integer will do (-1, say)."""
    if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int)):
        raise ValueError(f"pad must be an integer, got {pad!r}")


def check_logits(logits: Tensor, batch: int, eos: int | None) -> int:
    """Check one step's logits are ``(batch, V)`` (with ``eos < V``); return ``V``."""
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != batch:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"step must return logits of shape ({batch}, V), got {shape}")
    V = logits.shape[1]
    if eos is not None and eos >= V:
        raise ValueError(f"eos must be a token id below the vocabulary size {V}, got {eos}")
    return V


def sequence_lengths(tokens: Tensor, eos: int) -> Tensor:
    """Length of each decoded row, counting up to and including its first ``eos``.

    ``tokens`` is ``(..., L)``; rows without ``eos`` have length ``L``. Returns ``(...)`` long.
    """
    is_eos = tokens == eos
    L = tokens.shape[-1]
    first = torch.where(is_eos.any(-1), is_eos.long().argmax(-1) + 1, L)
    return first.long()
