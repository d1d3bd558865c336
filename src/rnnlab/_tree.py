"""Helpers over recurrent states: NamedTuples of tensors, possibly nested (the ground floor:
imports no other part of rnnlab).

Every state in rnnlab is a ``NamedTuple`` of tensors with the batch first (``LSTMState(h,
c)``, a stack's tuple of its layers' states, an encoder-decoder's state with its memory), so
one set of helpers serves every cell, layer and model:

* :func:`map_state`, :func:`zip_map_state`: apply a function to every tensor (pairwise),
  keeping the structure; :func:`detach_state` (truncated BPTT), :func:`select_rows` (beam
  search), :func:`where_state` (padded steps keep the old state) are built on them.
* :func:`state_leaves`, :func:`state_with_leaves`: the tensors in field order, and back.
* :func:`flatten_state`, :func:`unflatten_state`: the differentiable tensors as one real
  ``(B, F)`` feature matrix (a complex tensor as its real and imaginary parts), and back.
* :func:`state_to_plain`, :func:`state_from_plain`: a state as dicts, lists, strings and
  tensors (what ``torch.load(weights_only=True)`` reads back without unpickling classes),
  and back.

``None`` fields are kept as they are and are no leaves. A tensor is *differentiable* here
when autograd can track it: floating point or complex (an integer step counter is not).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

State = Any
"""A NamedTuple of tensors (possibly nested NamedTuples); each tensor has batch first."""


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor of a (nested) NamedTuple state, keeping its type."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple):
        mapped = [map_state(fn, s) for s in state]
        if hasattr(state, "_fields"):
            return type(state)(*mapped)
        return type(state)(mapped)
    if state is None:
        return None
    raise TypeError(f"state must be a NamedTuple of tensors, got {type(state).__name__}")


def zip_map_state(fn: Callable[[Tensor, Tensor], Tensor], a: State, b: State) -> State:
    """Apply ``fn`` pairwise to the tensors of two states of the same structure."""
    if isinstance(a, Tensor):
        return fn(a, b)
    if isinstance(a, tuple):
        mapped = [zip_map_state(fn, x, y) for x, y in zip(a, b, strict=True)]
        if hasattr(a, "_fields"):
            return type(a)(*mapped)
        return type(a)(mapped)
    if a is None:
        return None
    raise TypeError(f"state must be a NamedTuple of tensors, got {type(a).__name__}")


def detach_state(state: State) -> State:
    """Cut the graph at ``state`` (truncated BPTT)."""
    return map_state(lambda t: t.detach(), state)


def select_rows(state: State, index: Tensor) -> State:
    """Select (or reorder, or repeat) batch rows of every tensor of ``state``.

    A state may define its own ``select_rows(index)`` method, which is then used instead:
    an encoder-decoder's state keeps the encoder's memory once per source sentence rather
    than once per row (:class:`rnnlab.models.Seq2SeqState`), so beam search reorders only
    the decoder's part of it.
    """
    own = getattr(state, "select_rows", None)
    if callable(own):
        return own(index)
    return map_state(lambda t: t.index_select(0, index), state)


def where_state(mask: Tensor, new: State, old: State) -> State:
    """Take ``new`` where ``mask`` (shape ``(B,)``, bool) is true, ``old`` elsewhere."""

    def pick(n: Tensor, o: Tensor) -> Tensor:
        m = mask.view(-1, *([1] * (n.dim() - 1)))
        return torch.where(m, n, o)

    return zip_map_state(pick, new, old)


def is_differentiable(t: Tensor) -> bool:
    """Floating point or complex: a tensor autograd can differentiate (not a step counter)."""
    return t.is_floating_point() or t.is_complex()


def state_leaves(state: State, *, differentiable_only: bool = False) -> list[Tensor]:
    """The tensors of a (nested) NamedTuple state in field order, depth first; with
    ``differentiable_only`` only the floating-point and complex ones (:func:`is_differentiable`).

    Complex tensors are leaves like any other: a unitary RNN's complex state is part of what
    gradient flow and professor forcing measure.
    """
    out: list[Tensor] = []

    def keep(t: Tensor) -> Tensor:
        if not differentiable_only or is_differentiable(t):
            out.append(t)
        return t

    map_state(keep, state)
    return out


def state_with_leaves(
    template: State, leaves: Sequence[Tensor], *, differentiable_only: bool = False
) -> State:
    """``template``'s structure with its leaves replaced, in :func:`state_leaves` order, by
    ``leaves``; with ``differentiable_only`` only its differentiable tensors are replaced and
    the others (a step counter) are kept from ``template``.

    The inverse of :func:`state_leaves`: ``state_with_leaves(s, state_leaves(s)) == s``.
    """
    expected = len(state_leaves(template, differentiable_only=differentiable_only))
    if len(leaves) != expected:
        raise ValueError(f"the state has {expected} leaves, got {len(leaves)} tensors")
    it: Iterator[Tensor] = iter(leaves)

    def refill(t: Tensor) -> Tensor:
        return next(it) if not differentiable_only or is_differentiable(t) else t

    return map_state(refill, template)


def flatten_state(state: State) -> Tensor:
    """The differentiable tensors of a state as one real ``(B, F)`` feature matrix.

    Each tensor ``(B, ...)`` becomes ``(B, n)`` and they are concatenated in field order; a
    complex tensor contributes its real and imaginary parts (``torch.view_as_real``: each
    element as ``[Re, Im]``), so ``F`` counts real numbers and
    ``flatten_state(s).norm() ** 2`` is the sum of ``|z|^2`` over every element.
    """
    parts = [
        torch.view_as_real(t) if t.is_complex() else t
        for t in state_leaves(state, differentiable_only=True)
    ]
    if not parts:
        raise ValueError("the state holds no floating-point or complex tensor to flatten")
    return torch.cat([t.reshape(t.shape[0], -1) for t in parts], dim=-1)


def unflatten_state(features: Tensor, like: State) -> State:
    """The inverse of :func:`flatten_state`: refill ``like``'s differentiable tensors from the
    ``(B, F)`` features (complex ones from their ``[Re, Im]`` pairs, in ``like``'s dtype);
    other fields (a step counter) are kept from ``like``."""
    template = state_leaves(like, differentiable_only=True)
    sizes = [t[0].numel() * (2 if t.is_complex() else 1) for t in template]
    if features.dim() != 2 or features.shape[-1] != sum(sizes):
        raise ValueError(
            f"features must have shape (B, {sum(sizes)}) for this state, "
            f"got {tuple(features.shape)}"
        )
    leaves: list[Tensor] = []
    for t, chunk in zip(template, features.split(sizes, dim=-1), strict=True):
        if t.is_complex():
            pairs = chunk.reshape(chunk.shape[0], *t.shape[1:], 2)
            leaves.append(torch.view_as_complex(pairs.contiguous()))
        else:
            leaves.append(chunk.reshape(chunk.shape[0], *t.shape[1:]))
    return state_with_leaves(like, leaves, differentiable_only=True)


def state_to_plain(state: State) -> Any:
    """``state`` as nested ``{"type": ..., "items": [...]}`` dicts with the tensors as they
    are: ``type`` is ``"module:QualName"`` of a NamedTuple, or ``"tuple"``. Checkpoints save
    a carried state so, and :func:`state_from_plain` rebuilds it without unpickling."""
    if isinstance(state, Tensor) or state is None:
        return state
    if isinstance(state, tuple):
        kind = type(state)
        name = "tuple" if kind is tuple else f"{kind.__module__}:{kind.__qualname__}"
        return {"type": name, "items": [state_to_plain(s) for s in state]}
    raise TypeError(f"state must be a NamedTuple of tensors, got {type(state).__name__}")


def state_from_plain(data: Any) -> State:
    """The state :func:`state_to_plain` described. A NamedTuple type is looked up among the
    modules already imported (building the model imports its states' modules); nothing is
    imported or unpickled, and a name that is not a NamedTuple there is a ``ValueError``."""
    if isinstance(data, Tensor) or data is None:
        return data
    if not (isinstance(data, dict) and isinstance(data.get("items"), list)):
        raise ValueError(f"not a saved state: {type(data).__name__}")
    items = [state_from_plain(d) for d in data["items"]]
    name = data.get("type")
    if name == "tuple":
        return tuple(items)
    module, _, qualname = str(name).partition(":")
    kind: Any = sys.modules.get(module)
    for part in qualname.split(".") if kind is not None else []:
        kind = getattr(kind, part, None)
    if not (isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields")):
        raise ValueError(f"saved state type {name!r} is not a NamedTuple of a loaded module")
    return kind(*items)
