"""Conditional models over any layer stack: seq->vec and aligned seq->seq (tagging)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import State
from rnnlab.layers.base import SequenceLayer
from rnnlab.models.deep_output import check_head


class _HeadOverLayers(nn.Module):
    """A layer stack and a head (linear unless given, e.g. a DeepOutput MLP) on its outputs;
    subclasses say what the head reads in :meth:`readout`."""

    def __init__(
        self, layers: SequenceLayer, output_size: int, head: nn.Module | None = None
    ) -> None:
        super().__init__()
        check_positive("output_size", output_size)
        self.layers = layers
        if head is not None:
            check_head(head, layers.output_size, output_size)
        self.head = head if head is not None else nn.Linear(layers.output_size, output_size)
        self.input_size = layers.input_size
        self.output_size = output_size

    @property
    def causal(self) -> bool:
        return self.layers.causal

    def forward(self, batch: Any, state: State | None = None) -> tuple[Tensor, State]:
        """The head's outputs on ``batch.x (B, T, D)`` (with ``batch.lengths``) and the
        layers' final state."""
        lengths = getattr(batch, "lengths", None)
        y, final = self.layers(batch.x, state, lengths)  # (B, T, H)
        return self.readout(y, lengths), final

    def readout(self, y: Tensor, lengths: Tensor | None = None) -> Tensor:
        raise NotImplementedError


class Seq2Vec(_HeadOverLayers):
    r"""Sequence classifier / regressor: :math:`o = W \, s(h_{1..T}) + b`.

    ``s`` is the layer stack's summary of the sequence (its last real output; for a
    bidirectional layer the forward half at the last step and the backward half at step 0).

    Shapes: ``x (B, T, D)``, ``lengths (B,)`` -> ``(B, output_size)`` (logits or values).

    Example::

        model = Seq2Vec(build_layers("gru", 1, 128), output_size=10)
        logits, _ = model(Batch(torch.randn(8, 40, 1)))
    """

    def readout(self, y: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The head on the layers' outputs ``y (B, T, H)``: ``(B, output_size)``."""
        return self.head(self.layers.summary(y, lengths))


class Tagger(_HeadOverLayers):
    r"""Per-step tagger (aligned seq->seq): :math:`o_t = W h_t + b` for every step.

    Shapes: ``x (B, T, D)``, ``lengths (B,)`` -> ``(B, T, output_size)``; outputs at padded
    steps are the head applied to zeros and must be ignored by the loss.
    """

    def readout(self, y: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The head on the layers' outputs ``y (B, T, H)``: ``(B, T, output_size)``."""
        return self.head(y)
