"""What every sequence layer shares: input checks and the readout of the last real step."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._tree import state_leaves
from rnnlab.cells.base import State


def check_sequence_input(x: Tensor, input_size: int, lengths: Tensor | None) -> None:
    """One-line errors for a batch-first ``(B, T, D)`` input and its optional lengths."""
    if not isinstance(x, Tensor):
        raise TypeError(f"input must be a torch.Tensor of shape (B, T, D), got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(
            f"input must have shape (B, T, {input_size}) (batch first), got {tuple(x.shape)}"
        )
    if x.shape[-1] != input_size:
        raise ValueError(
            f"input has {x.shape[-1]} features, expected {input_size} (shape {tuple(x.shape)})"
        )
    if x.shape[1] == 0:
        raise ValueError(f"input has no time steps (shape {tuple(x.shape)})")
    if lengths is None:
        return
    if not isinstance(lengths, Tensor) or lengths.is_floating_point() or lengths.is_complex():
        what = lengths.dtype if isinstance(lengths, Tensor) else type(lengths).__name__
        raise TypeError(f"lengths must be an integer tensor of shape (B,), got {what}")
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[0]:
        raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > x.shape[1]:
        raise ValueError(
            f"lengths must lie in [1, {x.shape[1]}] (the padded length), got [{lo}, {hi}]"
        )


def check_state(state: State, like: State, x: Tensor) -> None:
    """One-line errors for a ``state`` given to a layer that does not have the structure and
    shapes of ``like`` (the layer's initial state for ``x``'s batch) or lies on another
    device than ``x``."""
    got, want = state_leaves(state), state_leaves(like)
    if type(state) is not type(like) or len(got) != len(want):
        raise ValueError(
            f"state must be a {type(like).__name__} of {len(want)} tensors (the layer's "
            f"initial_state), got {type(state).__name__} with {len(got)}"
        )
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if not isinstance(g, Tensor) or g.shape != w.shape:
            shape = tuple(g.shape) if isinstance(g, Tensor) else type(g).__name__
            raise ValueError(
                f"state tensor {i} of {type(like).__name__} must have shape {tuple(w.shape)} "
                f"for a batch of {x.shape[0]}, got {shape}"
            )
        if g.device != x.device:
            raise ValueError(f"state tensor {i} is on {g.device}, the input on {x.device}")


def last_step(y: Tensor, lengths: Tensor | None) -> Tensor:
    """``y[b, lengths[b] - 1]`` for each row: ``(B, T, H) -> (B, H)``."""
    if lengths is None:
        return y[:, -1]
    idx = (lengths.to(y.device).long() - 1).view(-1, 1, 1).expand(-1, 1, y.shape[-1])
    return y.gather(1, idx).squeeze(1)


class SequenceLayer(nn.Module):
    """Base of the modules that map a ``(B, T, D)`` sequence to ``(B, T, output_size)``.

    ``forward(x, state=None, lengths=None) -> (y, final_state)``; steps past
    ``lengths[b]`` are padding: they leave the state unchanged and their outputs are zero.

    ``causal`` is true when the output at step ``t`` reads inputs up to ``t`` only; a
    layer that holds other layers is causal when all of them are.
    """

    input_size: int
    output_size: int

    @property
    def causal(self) -> bool:
        inner = (m for m in self.modules() if m is not self and isinstance(m, SequenceLayer))
        return all(m.causal for m in inner)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> State:
        raise NotImplementedError

    def summary(self, y: Tensor, lengths: Tensor | None) -> Tensor:
        """A ``(B, output_size)`` summary of the whole sequence: the last real output."""
        return last_step(y, lengths)
