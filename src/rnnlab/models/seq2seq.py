r"""Encoder-decoder (seq->seq) with optional attention: one RNN reads, another writes.

.. math::
    \begin{aligned}
    h_{1..S} &= \mathrm{Encoder}(E_s[x_{1..S}]) && \text{any layer stack, bidirectional typically}\\
    s_0 &= \tanh(W_b\, \bar h + b_b) && \bar h \text{: the encoder's final state (bridge)}\\
    (o_t, s_t) &= \mathrm{Cell}([E_t[y_{t-1}];\ \tilde h_{t-1}],\ s_{t-1})
        && \text{input feeding; } \tilde h_0 = 0,\ y_0 = \mathrm{BOS}\\
    (c_t, \alpha_t) &= \mathrm{Attention}(o_t, h_{1..S}) && c_t = \bar h \text{ without attention}\\
    \tilde h_t &= \tanh(W_c [c_t; o_t]) \\
    P(y_t \mid y_{<t}, x) &= \mathrm{softmax}(W_o \tilde h_t + b_o)
    \end{aligned}

This is the global-attention architecture of Luong, Pham & Manning (2015), with the
score chosen among additive (Bahdanau et al. 2015), dot and general. Without attention
the context is the encoder's final state at every step (it also initialises the decoder,
Sutskever et al. 2014; Cho et al. 2014 feed it to every step likewise).

Notes:
    Bahdanau et al. (2015) score the *previous* decoder state :math:`s_{t-1}` and feed the
    context into the cell; here (Luong et al. 2015) the current output :math:`o_t` is scored
    and the attentional vector :math:`\tilde h_t` is fed to the next step instead (input
    feeding), for every score function. With ``input_feeding=False`` the cell reads only
    the embeddings, and teacher-forced training runs the decoder as one fused unroll.

Shapes: ``src (B, S)`` long, ``lengths (B,)`` in ``[1, S]``, ``targets (B, T)`` long (ending
with EOS, padded with -100) -> logits ``(B, T, V_t)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab._tree import state_leaves, state_with_leaves
from rnnlab.attention import ATTENTIONS, make_attention
from rnnlab.cells.base import Cell, State, map_state
from rnnlab.layers.base import SequenceLayer
from rnnlab.layers.recurrent import Recurrent

# the token conventions of rnnlab.tasks.tokens and rnnlab.tasks.base (models do not import
# tasks): PAD = 0, BOS = 1, and -100 marks target padding
PAD, BOS, IGNORE_INDEX = 0, 1, -100


class Seq2SeqState(NamedTuple):
    """The decoder's state between steps, for the one-step protocol of
    :mod:`rnnlab.decoding`.

    The decoder's part (``cell``, ``feed``, ``attention``, ``source``) has one row per
    decoded sequence; the encoder's part (``memory``, ``keys``, ``mask``) one row per
    source sentence, and ``source`` says which sentence each row reads. Selecting rows
    (:meth:`select_rows`, which :func:`rnnlab.cells.base.select_rows` calls) reorders only
    the decoder's part, so the ``K`` beams of a sentence share one copy of its memory
    instead of copying it at every step of beam search. At the start (:meth:`EncoderDecoder.
    encode`) both parts have one row per sentence.
    """

    cell: Any  # the decoder cell's state, (R, ...) per row
    feed: Tensor  # (R, H) attentional vector h~_{t-1} (input feeding)
    memory: Tensor  # (N, S, M) encoder outputs (N, 1, M: the final state, without attention)
    keys: Tensor  # (N, S, K) memory-only part of the scores, computed once per source
    mask: Tensor  # (N, S) bool, True on real source positions
    attention: Tensor  # (R, S) the last step's attention weights
    source: Tensor  # (R,) long: the source sentence (row of memory) of each row

    def select_rows(self, index: Tensor) -> Seq2SeqState:
        """Rows ``index`` of the decoder's part; the memory is shared, not copied."""
        return self._replace(
            cell=map_state(lambda t: t.index_select(0, index), self.cell),
            feed=self.feed.index_select(0, index),
            attention=self.attention.index_select(0, index),
            source=self.source.index_select(0, index),
        )


def check_token_ids(name: str, x: Tensor, vocab_size: int | None = None) -> None:
    """One-line errors unless ``x`` is a ``(B, L)`` long tensor of ids in ``[0, vocab_size)``."""
    if not isinstance(x, Tensor) or x.dim() != 2 or x.dtype != torch.long:
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be token ids of shape (B, L), dtype long; got {got}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no positions (shape {tuple(x.shape)})")
    if vocab_size is not None:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{name} ids must lie in [0, {vocab_size}), got [{lo}, {hi}]")


class EncoderDecoder(nn.Module):
    """Encoder-decoder with attention (see the module docstring for the equations).

    Args:
        src_vocab_size: V_s; tgt_vocab_size: V_t (ids 0..3 are PAD, BOS, EOS, UNK).
        encoder: any sequence layer reading ``embedding_size`` features.
        decoder_cell: a cell reading ``embedding_size (+ output_size with input feeding)``.
        embedding_size: E, the width of both embeddings.
        attention: ``none``, ``additive``, ``dot`` or ``general``.
        input_feeding: feed the attentional vector to the next step (Luong et al. 2015).
        dropout: on both embeddings and on the attentional vectors.
        fast: let the teacher-forced decoder use the fused kernel (``input_feeding=False``).

    Example::

        enc = build_layers("gru", 64, 128, bidirectional=True)
        model = EncoderDecoder(20, 20, enc, GRUCell(64 + 128, 128), 64, "additive")
        logits = model(src, lengths, targets)                 # (B, T, 20)
        state = model.encode(src, lengths)                    # for rnnlab.decoding
        out = beam_search(model.step, state, bos, 5, 50, EOS, record=lambda s: s.attention)
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        encoder: SequenceLayer,
        decoder_cell: Cell,
        embedding_size: int,
        attention: str = "additive",
        input_feeding: bool = True,
        dropout: float = 0.0,
        fast: bool = True,
    ) -> None:
        super().__init__()
        check_positive("src_vocab_size", src_vocab_size)
        check_positive("tgt_vocab_size", tgt_vocab_size)
        check_positive("embedding_size", embedding_size)
        if attention not in ATTENTIONS:
            raise ValueError(
                f"unknown attention {attention!r}; expected one of {', '.join(ATTENTIONS)}"
            )
        check_unit_interval("dropout", dropout)
        if encoder.input_size != embedding_size:
            raise ValueError(
                f"the encoder reads {encoder.input_size} features, expected the embedding "
                f"size {embedding_size}"
            )
        H = decoder_cell.output_size
        expected = embedding_size + (H if input_feeding else 0)
        if decoder_cell.input_size != expected:
            raise ValueError(
                f"the decoder cell reads {decoder_cell.input_size} features, expected "
                f"{expected} (embedding {embedding_size}"
                + (f" + fed-back output {H})" if input_feeding else ")")
            )
        self.input_size, self.output_size = src_vocab_size, tgt_vocab_size
        self.attention_kind, self.input_feeding = attention, input_feeding
        self.src_embedding = nn.Embedding(src_vocab_size, embedding_size)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_size)
        self.encoder = encoder
        self.decoder = Recurrent(decoder_cell, fast=fast)
        M = encoder.output_size
        self.attention = make_attention(attention, H, M)
        self.combine = nn.Linear(M + H, H, bias=False)  # W_c
        self.head = nn.Linear(H, tgt_vocab_size)  # W_o, b_o
        self.dropout = nn.Dropout(dropout)
        # bridge: one tanh layer from the encoder's final state to each real matrix of the
        # decoder cell's state (other state tensors keep their initial values)
        template = state_leaves(decoder_cell.initial_state(1, device="cpu"))
        self._bridged = [
            i for i, t in enumerate(template) if t.dim() == 2 and t.dtype.is_floating_point
        ]
        self.bridge = nn.ModuleList([nn.Linear(M, template[i].shape[1]) for i in self._bridged])

    @property
    def decoder_cell(self) -> Cell:
        return self.decoder.cell

    # -- encoder ----------------------------------------------------------------------
    def encode(self, src: Tensor, lengths: Tensor | None = None) -> Seq2SeqState:
        """Read the sources; return the decoder's state before its first step (``BOS``)."""
        check_token_ids("source", src, self.input_size)
        B, S = src.shape
        if lengths is None:
            lengths = torch.full((B,), S, dtype=torch.long, device=src.device)
        e = self.dropout(self.src_embedding(src))  # (B, S, E)
        memory, _ = self.encoder(e, None, lengths)  # (B, S, M), zero on padding
        final = self.encoder.summary(memory, lengths)  # (B, M)
        cell_state = self.decoder_cell.initial_state(B, device=src.device, dtype=memory.dtype)
        leaves = state_leaves(cell_state)
        for i, layer in zip(self._bridged, self.bridge, strict=True):
            leaves[i] = torch.tanh(layer(final))  # s_0 = tanh(W_b h + b_b)
        cell_state = state_with_leaves(cell_state, leaves)
        if self.attention_kind == "none":
            memory = final.unsqueeze(1)  # (B, 1, M): the context at every step
            mask = torch.ones(B, 1, dtype=torch.bool, device=src.device)
        else:
            positions = torch.arange(S, device=src.device)
            mask = positions.unsqueeze(0) < lengths.to(src.device).unsqueeze(1)  # (B, S)
        keys = self.attention.project_keys(memory)
        H = self.decoder_cell.output_size
        feed = memory.new_zeros(B, H)
        weights = memory.new_zeros(B, memory.shape[1])
        source = torch.arange(B, device=src.device)
        return Seq2SeqState(cell_state, feed, memory, keys, mask, weights, source)

    # -- decoder ----------------------------------------------------------------------
    def _attend(
        self, o: Tensor, keys: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``o (N, [T,] H)`` -> attentional vector ``h~`` and attention weights."""
        context, weights = self.attention(o, keys, memory, mask)
        # h~_t = tanh(W_c [c_t; o_t])
        h = torch.tanh(self.combine(torch.cat([context, o], dim=-1)))
        return self.dropout(h), weights

    def _attend_rows(self, o: Tensor, state: Seq2SeqState) -> tuple[Tensor, Tensor]:
        """Attention for rows ``o (R, H)`` reading the memory of ``state.source``.

        When the rows come in equal groups per sentence, in sentence order (greedy
        decoding: groups of 1; beam search: ``K`` beams of sentence ``b`` at rows
        ``b K .. b K + K - 1``), each group attends to its sentence's memory as a block of
        ``K`` queries, without copying it; otherwise the memory rows are gathered.
        """
        R, N = o.shape[0], state.memory.shape[0]
        grouped = R % N == 0 and torch.equal(
            state.source, torch.arange(N, device=o.device).repeat_interleave(R // N)
        )
        if grouped:
            h, weights = self._attend(o.view(N, R // N, -1), state.keys, state.memory, state.mask)
            return h.reshape(R, -1), weights.reshape(R, -1)
        rows = state.source
        return self._attend(o, state.keys[rows], state.memory[rows], state.mask[rows])

    def step(self, tokens: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """One decoding step: ``tokens (B,)`` (the previous outputs, ``BOS`` first) ->
        next-token logits ``(B, V_t)`` and the new state (:mod:`rnnlab.decoding` protocol)."""
        e = self.dropout(self.tgt_embedding(tokens))  # (B, E)
        x = torch.cat([e, state.feed], dim=-1) if self.input_feeding else e
        o, cell_state = self.decoder_cell(x, state.cell)  # (B, H)
        h, weights = self._attend_rows(o, state)
        return self.head(h), state._replace(cell=cell_state, feed=h, attention=weights)

    @staticmethod
    def decoder_inputs(targets: Tensor) -> Tensor:
        """Teacher forcing: ``BOS, y_1, ..., y_{T-1}`` (padding read as ``PAD``)."""
        shifted = targets[:, :-1].masked_fill(targets[:, :-1] == IGNORE_INDEX, PAD)
        bos = torch.full_like(targets[:, :1], BOS)
        return torch.cat([bos, shifted], dim=1)  # (B, T)

    causal = True  # the decoder reads its targets left to right (the encoder sees all)

    def teacher_tokens(self, batch: Any, state: State | None = None) -> tuple[Tensor, State]:
        """The decoder's teacher-forced inputs (``BOS``, then the targets ``batch.y``) and
        the state before them: ``encode(batch.x, batch.lengths)`` unless ``state`` is
        given."""
        if state is None:
            state = self.encode(batch.x, batch.lengths)
        return self.decoder_inputs(batch.y), state

    def summary_fields(self) -> dict[str, Any]:
        return {"attention": self.attention_kind}

    def forward(self, batch: Any, state: State | None = None) -> tuple[Tensor, None]:
        """Teacher-forced logits ``(B, T, V_t)`` of ``batch`` (sources ``x``, ``lengths``,
        targets ``y``): position ``t`` predicts ``y[:, t]`` from the source and ``y[:, :t]``.
        Positions where the target is -100 (padding) are not computed: their logits are
        zero. ``state`` is not used (each batch is a fresh set of sentences)."""
        return self.teacher_forced(batch.x, batch.lengths, batch.y), None

    def teacher_forced(self, src: Tensor, lengths: Tensor | None, targets: Tensor) -> Tensor:
        """:meth:`forward` on tensors: logits ``(B, T, V_t)``."""
        check_token_ids("targets", targets)
        if targets.shape[0] != src.shape[0]:
            raise ValueError(
                f"targets have {targets.shape[0]} rows, the sources {src.shape[0]}; expected "
                "one target per source"
            )
        inputs = self.decoder_inputs(targets)
        check_token_ids("targets", inputs, self.output_size)
        state = self.encode(src, lengths)
        e = self.dropout(self.tgt_embedding(inputs))  # (B, T, E)
        if not self.input_feeding:
            o, _ = self.decoder(e, state.cell)  # (B, T, H): one (fused) unroll
            h, _ = self._attend(o, state.keys, state.memory, state.mask)  # every step at once
            return self._logits(h, targets)
        cell, cell_state, feed = self.decoder_cell, state.cell, state.feed
        keys, memory, mask = state.keys, state.memory, state.mask  # one row per row here
        outputs: list[Tensor] = []
        affine = cell.affine_input()  # (W, b) when project_input is W x + b
        with cell.unrolling():
            if affine is not None:
                # W [e_t; h~_{t-1}] + b = (W_e e_t + b) + W_h h~_{t-1}: the embedding part
                # for every step in one matmul, only the fed-back part inside the loop
                W, b = affine
                E = e.shape[-1]
                projected = nn.functional.linear(e, W[:, :E], b)  # (B, T, G)
                W_h = W[:, E:].t()  # (H, G)
                for p_t in projected.unbind(1):
                    o, cell_state = cell.step(torch.addmm(p_t, feed, W_h), cell_state)
                    feed, _ = self._attend(o, keys, memory, mask)
                    outputs.append(feed)
            else:
                for e_t in e.unbind(1):
                    o, cell_state = cell(torch.cat([e_t, feed], dim=-1), cell_state)
                    feed, _ = self._attend(o, keys, memory, mask)
                    outputs.append(feed)
        return self._logits(torch.stack(outputs, dim=1), targets)

    def _logits(self, h: Tensor, targets: Tensor) -> Tensor:
        """``W_o h~ + b_o`` ``(B, T, V)`` in one matmul over the real target positions only;
        padded positions (target -100, ignored by the loss) get zero logits."""
        real = targets != IGNORE_INDEX  # (B, T)
        if bool(real.all()):
            return self.head(h)
        logits = h.new_zeros(*targets.shape, self.output_size)
        logits[real] = self.head(h[real])  # (N_real, V)
        return logits

    def extra_repr(self) -> str:
        bidir = not self.encoder.causal
        return (
            f"attention={self.attention_kind}, input_feeding={self.input_feeding}, "
            f"bidirectional_encoder={bidir}"
        )
