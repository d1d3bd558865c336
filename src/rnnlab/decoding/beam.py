r"""Batched beam search over a one-step function.

All ``K`` beams of all ``B`` sentences advance together as one batch of ``B * K`` rows
(row ``b * K + k`` is beam ``k`` of sentence ``b``). The state is expanded once by
repeating rows and, after every step, reordered with :func:`rnnlab.cells.base.select_rows`
over the flat indices of the surviving (sentence, beam) pairs, so any NamedTuple state works
(LSTM, stacked, bidirectional-encoder context, a Transformer's key/value cache) without
special cases.

Scoring. A hypothesis :math:`y = y_1 \dots y_n` has the log-probability
:math:`\log P(y) = \sum_{t=1}^{n} \log \mathrm{softmax}(z_t)_{y_t}` and the length-normalised
score

.. math::
    s(y) = \frac{\log P(y)}{lp(n)}, \qquad lp(n) = \left(\frac{5 + n}{6}\right)^{\alpha}

(the GNMT length penalty, Wu et al. 2016, Eq. 14, without its coverage term; ``n`` counts
the generated tokens including ``eos``). We picked it over the plain :math:`n^\alpha` of
fairseq / Hugging Face because :math:`lp(1) = 1` and it grows more gently for short
outputs; ``alpha = 0`` gives raw log-probabilities (favouring short outputs), ``alpha = 1``
roughly the mean log-probability per token. Live beams all have the same length at a given
step, so they are ranked by :math:`\log P` alone; the penalty matters when finished
hypotheses of different lengths are compared.

Finished hypotheses. At step ``t`` each sentence looks at its ``2K`` best one-token
extensions of its ``K`` live beams (at most ``K`` of them can end with ``eos``, so at least
``K`` do not). Those ending with ``eos`` go to the sentence's pool of finished hypotheses,
which keeps the ``K`` best by :math:`s`; the ``K`` best that do not end become the live beams.
A sentence is done once the ``K``-th best finished score is at least the best score any live
beam could still reach. Because :math:`\log P \le 0` only decreases as a hypothesis grows
and :math:`lp` is monotone in ``n``, the bound of ``stopping="exact"`` (the default) is

.. math::
    \max_{n' \in [t+1, N]} \frac{\log P(y_{\le t})}{lp(n')}
    = \frac{\max_k \log P(y^{(k)}_{\le t})}{\max(lp(t + 1), lp(N))}

with ``N = max_length``, so stopping early never changes the result. With ``alpha > 0`` it
is loose (a live beam is credited with ending at ``N`` without losing any more
probability), and a search may run many steps after its best hypotheses ended;
``stopping="heuristic"`` uses :math:`\max_k \log P(y^{(k)}_{\le t}) / lp(t + 1)` instead
(the beam ends at the next step with probability 1), like Hugging Face's default
``early_stopping=False``: faster, but it may miss a longer hypothesis whose normalised
score would have been better. The two agree when ``alpha = 0``. A done sentence takes
no more hypotheses (its rows keep running, ignored, until every sentence is done). At
``max_length`` the live beams of sentences not yet done join the pool as truncated
hypotheses (length ``max_length``, no ``eos``). With ``eos=None`` every hypothesis is
such a fixed-length one.

Per-step extras (attention weights). The step keeps its 2-tuple signature; a model that
wants, say, its attention weights back puts them in its state (an input-feeding attention
decoder carries them anyway) and passes ``record=lambda s: s.attention``. Beam search calls
``record`` on the state after every step, and carries the recorded ``(B * K, ...)`` rows
along with each hypothesis through every reordering, into the pool, and out as
``BeamResult.extras`` ``(B, K, L, ...)``, aligned with ``BeamResult.tokens``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells.base import State, select_rows
from rnnlab.decoding.base import (
    StepFn,
    check_logits,
    check_max_length,
    check_pad,
    check_start,
    check_state_batch,
    check_token,
)


class BeamResult(NamedTuple):
    """The ``K`` best hypotheses of each sentence, best first.

    Slots with score ``-inf`` and length 0 are empty: fewer than ``K`` hypotheses of
    non-zero probability existed (a tiny vocabulary, say).
    """

    tokens: Tensor  # (B, K, L) long, generated tokens; pad after each hypothesis' end
    scores: Tensor  # (B, K) length-normalised scores log P / lp(length), descending
    lengths: Tensor  # (B, K) long, tokens per hypothesis, eos included
    log_probs: Tensor  # (B, K) raw log P of each hypothesis
    extras: Tensor | None  # (B, K, L, ...) what ``record`` returned at each step, or None


def gnmt_length_penalty(length: int, alpha: float) -> float:
    r"""GNMT length penalty (Wu et al. 2016): :math:`lp(n) = ((5 + n) / 6)^{\alpha}`."""
    return ((5 + length) / 6) ** alpha


class _Hyps(NamedTuple):
    """A set of ``N`` hypotheses per sentence, tensors ``(B, N, ...)``."""

    scores: Tensor
    log_probs: Tensor
    lengths: Tensor
    tokens: Tensor
    extras: Tensor | None


def beam_search(
    step: StepFn,
    state: State,
    start: Tensor,
    beam_size: int,
    max_length: int,
    eos: int | None,
    *,
    length_penalty: float = 0.6,
    pad: int | None = None,
    record: Callable[[State], Tensor] | None = None,
    stopping: Literal["exact", "heuristic"] = "exact",
) -> BeamResult:
    r"""Beam search for :math:`\arg\max_y \log P(y) / lp(|y|)`, all sentences in one batch.

    See the module docstring for the scoring, the handling of finished hypotheses and the
    exact stopping rule.

    Args:
        step: ``step(tokens (B*K,), state) -> (logits (B*K, V), state)``.
        state: the state before ``start`` is read, batch ``B`` first (expanded to ``B * K``
            rows here).
        start: ``(B,)`` first input token of each sentence.
        beam_size: ``K``, live beams and returned hypotheses per sentence.
        max_length: the most tokens a hypothesis may have, ``eos`` included.
        eos: end-of-sequence id, or ``None`` to decode exactly ``max_length`` tokens.
        length_penalty: ``alpha`` of :math:`lp(n) = ((5 + n) / 6)^{\alpha}`; 0 ranks by
            raw log-probability.
        pad: fills ``tokens`` after each hypothesis' end; defaults to ``eos`` (or 0).
        record: ``record(state) -> (B*K, ...)`` tensor kept per step and per hypothesis
            (e.g. attention weights stored in the state), returned as ``extras``.
        stopping: ``"exact"`` stops a sentence only when no live beam can beat its ``K``
            finished ones; ``"heuristic"`` assumes live beams cannot gain from growing
            longer (see the module docstring).

    Returns:
        :class:`BeamResult`; ``L`` is the longest returned hypothesis.

    Example::

        out = beam_search(decoder.step, enc_state, bos.expand(B), 5, 80, eos_id)
        best = out.tokens[:, 0]  # (B, L)
    """
    tokens = check_start(start)
    check_positive("beam_size", beam_size)
    check_max_length(max_length)
    check_token("eos", eos)
    check_pad(pad)
    if (
        isinstance(length_penalty, bool)
        or not isinstance(length_penalty, (int, float))
        or not math.isfinite(length_penalty)
    ):
        raise ValueError(f"length_penalty must be a finite number, got {length_penalty!r}")
    if stopping not in ("exact", "heuristic"):
        raise ValueError(f"stopping must be 'exact' or 'heuristic', got {stopping!r}")
    B, K, N = tokens.shape[0], beam_size, max_length
    check_state_batch(state, B)
    fill = pad if pad is not None else (eos if eos is not None else 0)
    device = tokens.device

    def lp(n: int) -> float:
        return gnmt_length_penalty(n, length_penalty)

    rows = torch.arange(B, device=device)  # (B,)
    state = select_rows(state, rows.repeat_interleave(K))  # row b*K + k: beam k of sentence b
    tokens = tokens.repeat_interleave(K)  # (B*K,)
    prefix = torch.full((B, K, N), fill, dtype=torch.long, device=device)  # live beams' tokens
    prefix_rec: Tensor | None = None  # (B, K, N, ...) live beams' records
    # live beams' log P (B, K) and the finished pool are made at the first step, once the
    # dtype of the logits (and of the records) is known
    live = unset = torch.empty(0)
    finished = _Hyps(unset, unset, unset, unset, None)
    done = torch.zeros(B, dtype=torch.bool, device=device)  # (B,) sentence has its K best

    t = 0
    for t in range(1, N + 1):
        logits, state = step(tokens, state)  # (B*K, V)
        V = check_logits(logits, B * K, eos)
        dtype = torch.promote_types(logits.dtype, torch.float32)
        logp = logits.to(dtype).log_softmax(dim=-1).view(B, K, V)
        rec = None if record is None else record(state)  # (B*K, ...), rows of the old beams
        if t == 1:
            # only beam 0 is real at first; -inf keeps its K copies from being expanded K times
            live = torch.full((B, K), float("-inf"), dtype=dtype, device=device)
            live[:, 0] = 0
            if rec is not None:
                prefix_rec = rec.new_zeros(B, K, N, *rec.shape[1:])
            finished = _empty_hyps(B, K, N, dtype, fill, device, prefix_rec)
        # log P of every one-token extension of every live beam
        cand = (live.unsqueeze(-1) + logp).view(B, K * V)
        n = min(K * V, K if eos is None else 2 * K)
        top, idx = cand.topk(n, dim=1)  # (B, n), best first
        src, tok = idx // V, idx % V  # (B, n) source beam and appended token
        seq = _take(prefix, src)  # (B, n, N)
        seq[:, :, t - 1] = tok
        seq_rec = None
        if rec is not None and prefix_rec is not None:
            seq_rec = _take(prefix_rec, src)  # (B, n, N, ...)
            seq_rec[:, :, t - 1] = _take(rec.reshape(B, K, *rec.shape[1:]), src)
        if eos is not None:
            ends = tok == eos  # (B, n)
            # s(y) = log P(y) / lp(t); a sentence that is done takes no more hypotheses
            score = torch.where(ends & ~done[:, None], top / lp(t), float("-inf"))
            lengths = torch.full_like(tok, t)
            finished = _best(finished, _Hyps(score, top, lengths, seq, seq_rec), K)
            # the K best extensions that do not end, in rank order, are the new live beams
            rank = torch.arange(n, device=device) + ends.long() * n  # (B, n)
            keep = rank.argsort(dim=1)[:, :K]  # (B, K)
            top = torch.where(ends, float("-inf"), top)  # only bites when V == 1
            top, src, tok = top.gather(1, keep), src.gather(1, keep), tok.gather(1, keep)
            seq = _take(seq, keep)
            if seq_rec is not None:
                seq_rec = _take(seq_rec, keep)
        live, prefix, prefix_rec = top, seq, seq_rec
        if t == N:
            break
        if eos is not None:
            # the best normalised score a live beam can still reach
            reach = max(lp(t + 1), lp(N)) if stopping == "exact" else lp(t + 1)
            bound = live.max(dim=1).values / reach  # (B,)
            done = done | (finished.scores[:, -1] >= bound)
            if bool(done.all()):
                break
        state = select_rows(state, (rows[:, None] * K + src).view(-1))
        tokens = tok.reshape(-1)

    # at max_length the live beams of the sentences not done yet are hypotheses too
    score = torch.where(done[:, None], float("-inf"), live / lp(t))
    lengths = torch.full((B, K), t, dtype=torch.long, device=device)
    finished = _best(finished, _Hyps(score, live, lengths, prefix, prefix_rec), K)
    return _result(finished, fill)


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """``out[b, j] = x[b, idx[b, j]]`` for ``x (B, M, ...)`` and ``idx (B, n)``."""
    B, M = x.shape[:2]
    flat = (torch.arange(B, device=idx.device)[:, None] * M + idx).reshape(-1)  # (B*n,)
    return x.reshape(B * M, *x.shape[2:]).index_select(0, flat).view(B, -1, *x.shape[2:])


def _empty_hyps(
    B: int,
    K: int,
    N: int,
    dtype: torch.dtype,
    fill: int,
    device: torch.device,
    rec: Tensor | None,
) -> _Hyps:
    scores = torch.full((B, K), float("-inf"), dtype=dtype, device=device)
    return _Hyps(
        scores=scores,
        log_probs=scores.clone(),
        lengths=torch.zeros(B, K, dtype=torch.long, device=device),
        tokens=torch.full((B, K, N), fill, dtype=torch.long, device=device),
        extras=None if rec is None else torch.zeros_like(rec),
    )


def _best(a: _Hyps, b: _Hyps, K: int) -> _Hyps:
    """The ``K`` best of two hypothesis sets by score, best first."""
    scores = torch.cat([a.scores, b.scores], dim=1)  # (B, Na + Nb)
    keep = scores.topk(K, dim=1).indices  # (B, K)

    def pick(x: Tensor, y: Tensor) -> Tensor:
        return _take(torch.cat([x, y], dim=1), keep)

    extras = None
    if a.extras is not None and b.extras is not None:
        extras = pick(a.extras, b.extras)
    return _Hyps(
        scores=_take(scores, keep),
        log_probs=pick(a.log_probs, b.log_probs),
        lengths=pick(a.lengths, b.lengths),
        tokens=pick(a.tokens, b.tokens),
        extras=extras,
    )


def _result(h: _Hyps, fill: int) -> BeamResult:
    """Blank the empty slots and cut the tokens to the longest hypothesis."""
    empty = h.scores == float("-inf")  # (B, K)
    lengths = h.lengths.masked_fill(empty, 0)
    log_probs = h.log_probs.masked_fill(empty, float("-inf"))
    L = max(int(lengths.max()), 1)
    tokens = h.tokens[:, :, :L].masked_fill(empty[:, :, None], fill)
    extras = None if h.extras is None else h.extras[:, :, :L]
    return BeamResult(tokens, h.scores, lengths, log_probs, extras)
