"""Decoding as plain functions over one step, ``step(tokens, state) -> (logits, state)``.

Greedy decoding, ancestral sampling (temperature, top-k, top-p) and batched beam search,
usable by any recurrent language model, encoder-decoder or Transformer whose state is a
(possibly nested) NamedTuple of batch-first tensors. See :mod:`rnnlab.decoding.base` for the
shared conventions.

Example::

    emb, cell, head = nn.Embedding(V, 32), LSTMCell(32, 64), nn.Linear(64, V)

    def step(tokens, state):
        h, state = cell(emb(tokens), state)
        return head(h), state

    greedy(step, cell.initial_state(4), bos.expand(4), 100, eos=eos_id)
    beam_search(step, cell.initial_state(4), bos.expand(4), 5, 100, eos_id).tokens[:, 0]

The decoders know only ``step``; a caller that owns the model runs them inside
``rnnlab.cells.decoding(model)`` (as :func:`generate` and :func:`decode_sources` do), so
that the weights a cell derives from its parameters (an orthogonal ``exp(A)``) are computed
once per generation rather than once per token.
"""

from rnnlab.decoding.base import StepFn, sequence_lengths
from rnnlab.decoding.beam import BeamResult, beam_search, gnmt_length_penalty
from rnnlab.decoding.conditional import ConditionalModel, generate
from rnnlab.decoding.filtering import filter_logits
from rnnlab.decoding.sampling import greedy, greedy_iter, sample, sample_iter
from rnnlab.decoding.seq2seq import Decoded, decode_sources

__all__ = [
    "BeamResult",
    "ConditionalModel",
    "Decoded",
    "StepFn",
    "beam_search",
    "decode_sources",
    "filter_logits",
    "generate",
    "gnmt_length_penalty",
    "greedy",
    "greedy_iter",
    "sample",
    "sample_iter",
    "sequence_lengths",
]
