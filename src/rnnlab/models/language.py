"""Generative RNN language model: :math:`P(x_1..x_T) = \\prod_t P(x_t \\mid x_{<t})`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab.cells.base import State
from rnnlab.layers.base import SequenceLayer


class LanguageModel(nn.Module):
    r"""Embedding -> any layer stack -> a distribution over the next token.

    .. math::
        e_t = E[x_t], \quad (h_t, s_t) = F_\theta(e_t, s_{t-1}), \quad
        o_t = W h_t + b, \quad P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(o_t)

    There is no Markov assumption: :math:`s_t` summarises the whole prefix. Training feeds
    the true previous tokens (teacher forcing); :meth:`step` feeds one token at a time for
    generation with :mod:`rnnlab.decoding`; :meth:`forward_hidden` and :meth:`step_hidden`
    also return the hidden-state sequence :math:`h_t` (professor forcing). Dropout
    (``dropout``) is applied to the embeddings and to the top layer's outputs (Zaremba et
    al. 2014).

    Args:
        vocab_size: V, tokens ``0..V-1``.
        layers: a left-to-right sequence layer taking ``embedding_size`` features.
        dropout: dropout on embeddings and top outputs.
        head: replaces the linear output layer (e.g. a deep output MLP).
        output_size: tokens the model predicts, ``0..output_size-1`` (default ``vocab_size``;
            fewer when the input vocabulary has a start symbol that is never predicted).

    Shapes: ``x (B, T)`` long -> logits ``(B, T, V)``; :meth:`step`: ``(B,)`` -> ``(B, V)``.

    Example::

        lm = LanguageModel(65, build_layers("lstm", 128, 256, num_layers=2))
        logits, state = lm(Batch(torch.randint(65, (4, 32))))
    """

    def __init__(
        self,
        vocab_size: int,
        layers: SequenceLayer,
        dropout: float = 0.0,
        head: nn.Module | None = None,
        output_size: int | None = None,
    ) -> None:
        super().__init__()
        check_positive("vocab_size", vocab_size)
        output_size = vocab_size if output_size is None else output_size
        check_positive("output_size", output_size)
        check_unit_interval("dropout", dropout)
        if not layers.causal:
            raise ValueError("a language model reads left to right: drop --bidirectional")
        self.embedding = nn.Embedding(vocab_size, layers.input_size)
        self.layers = layers
        # p = 0: no dropout op at all (in training mode Dropout(0) still costs a pass)
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = head if head is not None else nn.Linear(layers.output_size, output_size)
        self.input_size = vocab_size
        self.output_size = output_size

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> State:
        return self.layers.initial_state(batch, device=device, dtype=dtype)

    causal = True

    def forward(self, batch: Any, state: State | None = None) -> tuple[Tensor, State]:
        """Logits ``(B, T, V)`` for every position of ``batch.x (B, T)`` and the state after
        the last one (truncated BPTT carries it into the next chunk)."""
        logits, _, state = self.forward_hidden(batch.x, state, getattr(batch, "lengths", None))
        return logits, state

    def teacher_tokens(self, batch: Any, state: State | None = None) -> tuple[Tensor, State]:
        """The tokens read under teacher forcing, ``batch.x``, and the state before them."""
        return batch.x, state

    def forward_hidden(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor, State]:
        """Logits ``(B, T, V)``, the top layer's outputs :math:`h_t` ``(B, T, H)`` (before
        dropout; the hidden-state sequence professor forcing's discriminator reads) and the
        state after the last position."""
        if x.dim() != 2 or x.dtype != torch.long:
            raise ValueError(
                f"language model input must be token ids of shape (B, T), dtype long; got "
                f"{tuple(x.shape)} {x.dtype}"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.input_size):
            raise ValueError(
                f"token ids must lie in [0, {self.input_size}), got [{int(x.min())}, "
                f"{int(x.max())}]"
            )
        e = self.dropout(self.embedding(x))  # (B, T, E)
        y, state = self.layers(e, state, lengths)  # (B, T, H)
        return self.head(self.dropout(y)), y, state  # (B, T, V), (B, T, H)

    def step(self, token: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One generation step: ``token (B,)`` -> next-token logits ``(B, V)`` and state."""
        logits, _, state = self.forward_hidden(token.view(-1, 1), state)
        return logits[:, -1], state

    def step_hidden(self, token: Tensor, state: State | None) -> tuple[Tensor, Tensor, State]:
        """:meth:`step` that also returns the top layer's output :math:`h_t` ``(B, H)``."""
        logits, hidden, state = self.forward_hidden(token.view(-1, 1), state)
        return logits[:, -1], hidden[:, -1], state
