r"""Transformer encoder-decoder (Vaswani et al. 2017) for seq->seq tasks.

.. math::
    \begin{aligned}
    m_{1..S} &= \mathrm{Encoder}(E_s[x_{1..S}]) && \text{both ways, padding masked}\\
    h_t &= \mathrm{Decoder}(E_t[y_{0..t-1}],\ m) && \text{causal self-attention, then
        cross-attention to } m,\ y_0 = \mathrm{BOS}\\
    P(y_t \mid y_{<t}, x) &= \mathrm{softmax}(W_o h_t + b_o)
    \end{aligned}

The decoding state (:class:`TransformerSeq2SeqState`) is the decoder's self-attention
cache, one row per decoded sequence, and each decoder layer's cross-attention keys and
values of the encoder's outputs, computed once per source sentence in :meth:`encode` and
shared by the beams of a sentence (``source`` says which sentence a row reads), as in
:class:`rnnlab.models.EncoderDecoder`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnlab.models.seq2seq import IGNORE_INDEX, EncoderDecoder, check_token_ids
from rnnlab.models.transformer import TransformerConfig, init_weights_
from rnnlab.models.transformer_stack import KV, LayerWeights, TransformerBlock


class TransformerSeq2SeqState(NamedTuple):
    """The decoder's state between steps; :meth:`select_rows` reorders the decoder's part
    only (the cross-attention memory stays one row per sentence)."""

    layers: tuple[KV, ...]  # decoder self-attention cache, (R, h, L, d) per layer
    position: Tensor  # (R,) long: the position of the next target token
    memory: tuple[KV, ...]  # per decoder layer, cross-attention keys/values (N, h, S, d)
    mask: Tensor  # (N, S) bool: True on real source positions
    source: Tensor  # (R,) long: the source sentence (row of memory) of each row

    def select_rows(self, index: Tensor) -> TransformerSeq2SeqState:
        return self._replace(
            layers=tuple(
                KV(kv.keys.index_select(0, index), kv.values.index_select(0, index))
                for kv in self.layers
            ),
            position=self.position.index_select(0, index),
            source=self.source.index_select(0, index),
        )


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder Transformer (see the module docstring).

    Args:
        src_vocab_size: V_s; tgt_vocab_size: V_t (ids 0..3 are PAD, BOS, EOS, UNK).
        config: the family's options; ``tie_weights`` ties the output layer to the target
            embedding.

    Example::

        model = TransformerSeq2Seq(20, 20, TransformerConfig(num_layers=2, hidden_size=64))
        state = model.encode(src, lengths)
        out = beam_search(model.step, state, bos, 5, 50, EOS)
    """

    causal = True  # the decoder reads its targets left to right (the encoder sees all)

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, config: TransformerConfig) -> None:
        super().__init__()
        self.input_size, self.output_size = src_vocab_size, tgt_vocab_size
        self.max_length = config.max_length
        E = config.hidden_size
        self.src_embedding = nn.Embedding(src_vocab_size, E)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, E)
        self.encoder = config.stack(causal=False)
        self.decoder = config.stack(causal=True, cross=True)
        self.tie_weights = config.tie_weights
        self.head = nn.Linear(E, tgt_vocab_size)
        if config.tie_weights:
            del self.head.weight
            self.head.register_parameter("weight", None)
        init_weights_(self, config.num_layers)

    def _logits(self, h: Tensor) -> Tensor:
        weight = self.tgt_embedding.weight if self.tie_weights else self.head.weight
        return F.linear(h, weight, self.head.bias)

    def encode(self, src: Tensor, lengths: Tensor | None = None) -> TransformerSeq2SeqState:
        """Read the sources; the decoder's state before its first step (``BOS``)."""
        check_token_ids("source", src, self.input_size)
        B, S = src.shape
        if self.max_length < S:
            raise ValueError(
                f"sources of {S} positions are longer than max_length={self.max_length}"
            )
        if lengths is None:
            lengths = torch.full((B,), S, dtype=torch.long, device=src.device)
        mask = torch.arange(S, device=src.device) < lengths.to(src.device)[:, None]  # (B, S)
        memory, _, _ = self.encoder(self.src_embedding(src), 0, None, key_mask=mask)
        kv = tuple(KV(*cast(TransformerBlock, b).memory_keys(memory)) for b in self.decoder.blocks)
        layers = self.decoder.empty_cache(B, src.device, memory.dtype)
        position = torch.zeros(B, dtype=torch.long, device=src.device)
        return TransformerSeq2SeqState(
            layers, position, kv, mask, torch.arange(B, device=src.device)
        )

    def _decode(
        self, tokens: Tensor, state: TransformerSeq2SeqState, need_weights: bool = False
    ) -> tuple[Tensor, TransformerSeq2SeqState, list[LayerWeights]]:
        """Decoder outputs ``(R, T, E)`` for ``tokens (R, T)`` after ``state``, and per layer
        the attention weights when asked for (the exact path)."""
        R, T = tokens.shape
        n = state.layers[0].keys.shape[2]
        if n + T > self.max_length:
            raise ValueError(f"the decoder cache is full at max_length={self.max_length} positions")
        N = state.mask.shape[0]
        grouped = R % N == 0 and torch.equal(
            state.source, torch.arange(N, device=tokens.device).repeat_interleave(R // N)
        )
        memory, mask = state.memory, state.mask
        if not grouped:  # rows in another order: gather each row's memory
            rows = state.source
            memory = tuple(KV(kv.keys[rows], kv.values[rows]) for kv in memory)
            mask = mask[rows]
        start = int(state.position[0]) if R else 0
        h, cache, weights = self.decoder(
            self.tgt_embedding(tokens),
            start,
            state.layers,
            memory=memory,
            memory_mask=mask,
            need_weights=need_weights,
        )
        position = torch.full((R,), start + T, dtype=torch.long, device=tokens.device)
        return h, state._replace(layers=cache, position=position), weights

    def step(
        self, tokens: Tensor, state: TransformerSeq2SeqState
    ) -> tuple[Tensor, TransformerSeq2SeqState]:
        """One decoding step: ``tokens (R,)`` -> next-token logits ``(R, V_t)``."""
        h, state, _ = self._decode(tokens.view(-1, 1), state)
        return self._logits(h[:, -1]), state

    def cross_attention_weights(
        self, src: Tensor, lengths: Tensor | None, outputs: Tensor
    ) -> list[Tensor]:
        """Per decoder layer the cross-attention weights ``(B, h, T, S)`` of the output
        tokens ``outputs (B, T)`` (e.g. a decoded sentence, ``EOS`` included): row ``t`` is
        where the decoder looked while predicting ``outputs[:, t]`` after ``BOS`` and
        ``outputs[:, :t]``, which is what it read when it emitted that token step by step
        (cached decoding equals this full pass). The exact path, for figures; padded
        source positions get weight 0."""
        check_token_ids("outputs", outputs, self.output_size)
        inputs = EncoderDecoder.decoder_inputs(outputs)
        _, _, weights = self._decode(inputs, self.encode(src, lengths), need_weights=True)
        return [w.cross_attention for w in weights if w.cross_attention is not None]

    def teacher_tokens(self, batch: Any, state: Any = None) -> tuple[Tensor, Any]:
        """``BOS`` then the targets ``batch.y``, and ``encode(batch.x, batch.lengths)``."""
        if state is None:
            state = self.encode(batch.x, batch.lengths)
        return EncoderDecoder.decoder_inputs(batch.y), state

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        """Teacher-forced logits ``(B, T, V_t)``: position ``t`` predicts ``y[:, t]``."""
        targets = batch.y
        check_token_ids("targets", targets)
        if targets.shape[0] != batch.x.shape[0]:
            raise ValueError(
                f"targets have {targets.shape[0]} rows, the sources {batch.x.shape[0]}; "
                "expected one target per source"
            )
        inputs = EncoderDecoder.decoder_inputs(targets)
        check_token_ids("targets", inputs, self.output_size)
        h, _, _ = self._decode(inputs, self.encode(batch.x, batch.lengths))  # (B, T, E)
        real = targets != IGNORE_INDEX
        if bool(real.all()):
            return self._logits(h), None
        flat = self._logits(h[real])  # bfloat16 under autocast, though h is float32
        logits = flat.new_zeros(*targets.shape, self.output_size)
        logits[real] = flat  # padded positions: zero logits
        return logits, None
