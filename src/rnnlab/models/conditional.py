r"""vec->seq: a generative RNN conditioned on a vector, :math:`P(x_{1..T} \mid c)`.

.. math::
    s_0 = s_\varnothing + \mathrm{bridge}(c), \quad
    e_t = [E[x_{t-1}];\, c], \quad (h_t, s_t) = F_\theta(e_t, s_{t-1}), \quad
    P(x_t \mid x_{<t}, c) = \mathrm{softmax}(W h_t + b)

with :math:`x_0` a start symbol and :math:`s_\varnothing` the layers' default initial
state. :math:`c` enters through the initial state and, with ``feed_condition``, is also
concatenated to every input step (the ``[.; c]`` above, otherwise :math:`e_t = E[x_{t-1}]`).
After the initial state the model is a language model over tokens with the usual one-step
protocol, so :mod:`rnnlab.decoding` (greedy, sampling, beam search) generates from it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab.cells.base import State, map_state
from rnnlab.layers.base import SequenceLayer


class ConditionalState(NamedTuple):
    """State of :class:`ConditionalGenerator`: the layer stack's state and the condition
    ``(B, C)`` (carried so that decoders that select or reorder batch rows, such as beam
    search, keep each row's condition with its state)."""

    layers: Any
    condition: Tensor


class StateBridge(nn.Module):
    r"""Maps a condition vector to an offset of every floating-point state tensor.

    .. math::
        s_0^{(i)} = s_\varnothing^{(i)} + \mathrm{reshape}(W_i c + b_i)

    for every tensor :math:`i` of the (nested NamedTuple) state of any layer stack, found
    with :func:`rnnlab.cells.base.map_state`: an LSTM gets a bridge to ``h`` and one to
    ``c`` per layer, a GRU one to ``h``, a delay cell also one to its history buffer.
    Integer tensors (the clockwork RNN's step counter) keep their initial value; a complex
    tensor (the LRU's state) gets its real and imaginary parts from one map. For the
    hierarchical multiscale RNN the boundary ``z`` is bridged too, so its first step sees a
    soft boundary (it is binary from then on).

    Args:
        condition_size: C, the condition's width.
        template: a state of the layers for batch 1; fixes the tensors' shapes.
    """

    def __init__(self, condition_size: int, template: State) -> None:
        super().__init__()
        check_positive("condition_size", condition_size)
        shapes: list[tuple[int, ...] | None] = []

        def record(t: Tensor) -> Tensor:
            # a complex tensor as its real view: (..., 2)
            real = t.dtype.is_floating_point or t.dtype.is_complex
            shapes.append((*t.shape[1:], *((2,) if t.dtype.is_complex else ())) if real else None)
            return t

        map_state(record, template)
        self.shapes = shapes
        self.condition_size = condition_size
        # one linear map per floating-point (or complex) tensor, in map_state's order
        self.maps = nn.ModuleList(
            nn.Linear(condition_size, int(torch.Size(s).numel())) for s in shapes if s is not None
        )
        if not self.maps:
            raise ValueError("the layers' state has no floating-point tensor to condition")

    def forward(self, condition: Tensor, state: State) -> State:
        """``condition (B, C)`` and the default initial ``state`` -> the conditioned state."""
        shapes = iter(self.shapes)
        maps = iter(self.maps)

        def offset(t: Tensor) -> Tensor:
            shape = next(shapes)
            if shape is None:
                return t
            bridge = next(maps)(condition).view(t.shape[0], *shape)
            if t.dtype.is_complex:
                return t + torch.view_as_complex(bridge.to(t.real.dtype))
            return t + bridge.to(t.dtype)

        return map_state(offset, state)


class ConditionalGenerator(nn.Module):
    r"""A language model whose initial state (and optionally every input) is a function
    of a condition vector: vec->seq.

    .. math::
        s_0 = s_\varnothing + \mathrm{bridge}(c), \quad
        (h_t, s_t) = F_\theta([E[x_{t-1}];\, c], s_{t-1}), \quad
        P(x_t \mid x_{<t}, c) = \mathrm{softmax}(W h_t + b)

    :math:`x_0` is the start symbol (token id ``vocab_size``, read but never predicted).
    The bridge (:class:`StateBridge`) is a linear map per state tensor, so any cell works
    (LSTM ``(h, c)``, GRU ``h``, ...). ``condition`` is any real vector: a class one-hot, a
    binary code, an embedding.

    Args:
        condition_size: C.
        vocab_size: V, tokens ``0..V-1`` (the start symbol ``V`` is added).
        layers: a left-to-right sequence layer taking ``embedding_size (+ C)`` features.
        feed_condition: also concatenate ``c`` to every input step.
        dropout: dropout on embeddings and top outputs (as in :class:`LanguageModel`).
        head: replaces the linear output layer (e.g. a deep output MLP).

    Shapes: ``forward(condition (B, C), tokens (B, T))`` -> logits ``(B, T, V)``;
    :meth:`initial_state` ``(B, C)`` -> :class:`ConditionalState`; :meth:`step`
    ``(B,)`` -> ``(B, V)``.

    Example::

        model = ConditionalGenerator(10, 32, build_layers("lstm", 64, 128))
        c = torch.eye(10)[[3, 7]]  # two class one-hots
        start = torch.full((2,), model.start_token)
        tokens = sample(model.step, model.initial_state(c), start, 40)  # (2, 40)
    """

    def __init__(
        self,
        condition_size: int,
        vocab_size: int,
        layers: SequenceLayer,
        *,
        feed_condition: bool = False,
        dropout: float = 0.0,
        head: nn.Module | None = None,
    ) -> None:
        super().__init__()
        check_positive("condition_size", condition_size)
        check_positive("vocab_size", vocab_size)
        check_unit_interval("dropout", dropout)
        if not layers.causal:
            raise ValueError("a generator reads left to right: drop --bidirectional")
        embedding_size = layers.input_size - (condition_size if feed_condition else 0)
        if embedding_size <= 0:
            raise ValueError(
                f"the layers read {layers.input_size} features, too few for the condition's "
                f"{condition_size} fed to every step plus a token embedding"
            )
        self.condition_size = condition_size
        self.vocab_size = vocab_size
        self.start_token = vocab_size
        self.feed_condition = feed_condition
        self.embedding = nn.Embedding(vocab_size + 1, embedding_size)
        self.layers = layers
        self.bridge = StateBridge(condition_size, layers.initial_state(1))
        self.dropout = nn.Dropout(dropout)
        self.head = head if head is not None else nn.Linear(layers.output_size, vocab_size)
        self.input_size = condition_size
        self.output_size = vocab_size

    def _check_condition(self, condition: Tensor) -> Tensor:
        if not isinstance(condition, Tensor) or condition.dim() != 2:
            shape = tuple(condition.shape) if isinstance(condition, Tensor) else condition
            raise ValueError(f"condition must have shape (B, {self.condition_size}), got {shape}")
        if condition.shape[1] != self.condition_size:
            raise ValueError(
                f"condition has {condition.shape[1]} features, expected {self.condition_size}"
            )
        if not condition.dtype.is_floating_point:
            condition = condition.to(self.embedding.weight.dtype)
        return condition

    def _check_tokens(self, tokens: Tensor, limit: int) -> None:
        if not isinstance(tokens, Tensor):
            raise ValueError(f"tokens must be a (B, T) tensor of ids, got {type(tokens).__name__}")
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(
                f"tokens must be ids of shape (B, T), dtype long; got {tuple(tokens.shape)} "
                f"{tokens.dtype}"
            )
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= limit):
            raise ValueError(
                f"token ids must lie in [0, {limit}), got [{int(tokens.min())}, "
                f"{int(tokens.max())}]"
            )

    def initial_state(self, condition: Tensor) -> ConditionalState:
        """The state before the start symbol is read: ``s_0 = s_default + bridge(c)``."""
        condition = self._check_condition(condition)
        ref = self.embedding.weight
        default = self.layers.initial_state(condition.shape[0], device=ref.device, dtype=ref.dtype)
        return ConditionalState(self.bridge(condition, default), condition)

    causal = True

    def read(self, tokens: Tensor, state: ConditionalState) -> tuple[Tensor, ConditionalState]:
        """Read input ``tokens (B, T)`` (the start symbol allowed) from ``state``: logits of
        the token after each one ``(B, T, V)`` and the state after the last."""
        self._check_tokens(tokens, self.vocab_size + 1)
        e = self.dropout(self.embedding(tokens))  # (B, T, E)
        if self.feed_condition:
            c = state.condition.unsqueeze(1).expand(-1, tokens.shape[1], -1)  # (B, T, C)
            e = torch.cat([e, c.to(e.dtype)], -1)  # (B, T, E + C)
        y, inner = self.layers(e, state.layers)  # (B, T, H)
        return self.head(self.dropout(y)), ConditionalState(inner, state.condition)

    def teacher_tokens(
        self, batch: Any, state: ConditionalState | None = None
    ) -> tuple[Tensor, ConditionalState]:
        """The inputs of teacher forcing, the targets ``batch.y (B, T)`` shifted right
        behind the start symbol, and the state before them (from ``batch.x``, the
        condition, unless ``state`` is given)."""
        tokens = batch.y
        self._check_tokens(tokens, self.vocab_size)
        condition = self._check_condition(batch.x)
        if condition.shape[0] != tokens.shape[0]:
            raise ValueError(
                f"condition has {condition.shape[0]} rows but tokens {tokens.shape[0]}"
            )
        start = torch.full_like(tokens[:, :1], self.start_token)
        inputs = torch.cat([start, tokens[:, :-1]], 1)  # (B, T): x_0 .. x_{T-1}
        return inputs, state if state is not None else self.initial_state(condition)

    def forward(
        self, batch: Any, state: ConditionalState | None = None
    ) -> tuple[Tensor, ConditionalState]:
        r"""Teacher-forced logits ``(B, T, V)`` of the targets ``batch.y (B, T)`` given the
        condition ``batch.x (B, C)``: row ``t`` is :math:`\log P(x_t \mid x_{<t}, c)`
        (unnormalised), the targets read shifted right behind the start symbol."""
        return self.read(*self.teacher_tokens(batch, state))

    def step(self, tokens: Tensor, state: ConditionalState) -> tuple[Tensor, ConditionalState]:
        """One generation step: ``tokens (B,)`` -> next-token logits ``(B, V)`` and state."""
        logits, state = self.read(tokens.view(-1, 1), state)
        return logits[:, -1], state

    def start(self, batch: int) -> Tensor:
        """``(B,)`` start symbols on the model's device: the first input of decoding."""
        return torch.full((batch,), self.start_token, device=self.embedding.weight.device)
