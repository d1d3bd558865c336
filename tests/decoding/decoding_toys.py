"""Toy one-step generators whose distributions are known, for the decoding tests.

* :class:`Chain`: a second-order Markov chain, ``P(x_t | x_{t-1}, x_{t-2}) =
  softmax(A[x_{t-1}] + C[x_{t-2}])``, where ``x_{t-2}`` lives in the state, so a decoder that
  reorders the state wrongly gets wrong answers.
* :class:`LSTMLM`: embedding -> LSTMCell -> linear head, in float64, whose state nests an
  ``LSTMState`` and a ``ChainState`` inside another NamedTuple.

:func:`score` teacher-forces given sequences through any step (the brute-force reference).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab.cells import LSTMCell, LSTMState, select_rows


class ChainState(NamedTuple):
    last: Tensor  # (B,) long: the token read at the previous step
    count: Tensor  # (B,) long: steps taken so far


class Chain:
    def __init__(self, V: int, seed: int = 0, eos: int | None = None, eos_bias: float = 0.0):
        g = torch.Generator().manual_seed(seed)
        self.V = V
        self.A = 2 * torch.randn(V, V, generator=g)  # (V, V) logits given x_{t-1}
        self.C = torch.randn(V, V, generator=g)  # (V, V) logits given x_{t-2}
        if eos is not None:
            self.A[:, eos] += eos_bias
        self.calls = 0

    def initial_state(self, prev: Tensor) -> ChainState:
        return ChainState(prev.long(), torch.zeros_like(prev, dtype=torch.long))

    def __call__(self, tokens: Tensor, state: ChainState) -> tuple[Tensor, ChainState]:
        self.calls += 1
        logits = self.A.to(tokens.device)[tokens] + self.C.to(tokens.device)[state.last]
        return logits, ChainState(tokens, state.count + 1)

    def to_logits(self, prev2: int, prev: int) -> Tensor:
        return self.A[prev] + self.C[prev2]


class Outer(NamedTuple):
    lstm: LSTMState
    chain: ChainState


class LSTMLM(nn.Module):
    def __init__(self, V: int, seed: int = 0, hidden: int = 16) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.V = V
        self.emb = nn.Embedding(V, 8)
        self.cell = LSTMCell(8, hidden)
        self.head = nn.Linear(hidden, V)
        self.double()

    def initial_state(self, B: int, seed: int = 1) -> Outer:
        g = torch.Generator().manual_seed(seed)
        H = self.cell.hidden_size
        lstm = LSTMState(
            torch.randn(B, H, generator=g, dtype=torch.float64),
            torch.randn(B, H, generator=g, dtype=torch.float64),
        )
        zeros = torch.zeros(B, dtype=torch.long)
        return Outer(lstm, ChainState(zeros, zeros.clone()))

    @torch.no_grad()
    def forward(self, tokens: Tensor, state: Outer) -> tuple[Tensor, Outer]:
        h, lstm = self.cell(self.emb(tokens), state.lstm)
        logits = 3 * self.head(h)  # sharper than at initialisation
        return logits, Outer(lstm, ChainState(tokens, state.chain.count + 1))


def score(step, state, start: Tensor, seqs: Tensor, lengths: Tensor) -> Tensor:
    """log P of each row of ``seqs (M, L)`` (its first ``lengths`` tokens) after one start.

    ``state`` has batch 1 and ``start`` shape ``(1,)``; both are repeated for the M rows.
    """
    M, L = seqs.shape
    state = select_rows(state, torch.zeros(M, dtype=torch.long))
    tokens = start.expand(M)
    total = torch.zeros(M, dtype=torch.float64)
    for t in range(L):
        logits, state = step(tokens, state)
        logp = logits.double().log_softmax(-1).gather(1, seqs[:, t : t + 1]).squeeze(1)
        total = total + torch.where(t < lengths, logp, 0.0)
        tokens = seqs[:, t]
    return total


def hypotheses(V: int, L: int, eos: int | None) -> tuple[Tensor, Tensor]:
    """Every hypothesis beam search may return: ``(M, L)`` tokens (eos-padded), lengths.

    Without ``eos`` all ``V^L`` sequences of length ``L``; with it, every run of non-eos
    tokens followed by ``eos`` (length <= L), and the length-``L`` runs without ``eos``.
    """
    if eos is None:
        seqs = list(itertools.product(range(V), repeat=L))
        return torch.tensor(seqs), torch.full((len(seqs),), L)
    other = [v for v in range(V) if v != eos]
    rows, lengths = [], []
    for n in range(1, L + 1):
        for body in itertools.product(other, repeat=n - 1):
            rows.append([*body, eos] + [eos] * (L - n))
            lengths.append(n)
    for body in itertools.product(other, repeat=L):
        rows.append(list(body))
        lengths.append(L)
    return torch.tensor(rows), torch.tensor(lengths)
