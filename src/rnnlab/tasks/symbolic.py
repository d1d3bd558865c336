"""Generated seq->seq tasks over random symbol strings: ``reverse`` and ``sort``.

Sources are ``n`` symbols drawn uniformly from the letters ``a, b, c, ...`` (written
space-separated: ``"c a b"``), ``n`` uniform in ``[min_length, T]``; the target is the
source reversed (``"b a c"``) or sorted (``"a b c"``). Both vocabularies are the letters,
in alphabetical order after the four specials. The main metric is ``exact_match``, the
fraction of outputs equal to the target in full.

Reversal pairs the first output with the last input: an encoder-decoder that squeezes
the source into one vector must remember all of it in order, while attention can look at
position ``n - t`` directly (Bahdanau et al. 2015); sorting needs the counts of every
symbol.
"""

from __future__ import annotations

import string
from typing import Any, ClassVar

import torch

from rnnlab._checks import check_positive
from rnnlab.tasks.seq2seq import GeneratedSeq2SeqTask
from rnnlab.tasks.tokens import TokenVocab

MAX_SYMBOLS = 26


class SymbolTask(GeneratedSeq2SeqTask):
    """Base of :class:`ReverseTask` and :class:`SortTask`.

    Args:
        T: the longest source, in symbols.
        symbols: the alphabet size (the first ``symbols`` letters), at most 26.
        min_length: the shortest source.
        seed: fixes ``val``/``test`` and the training stream.
    """

    defaults: ClassVar[dict[str, Any]] = dict(
        model="gru",
        hidden_size=128,
        embedding_size=64,
        bidirectional=True,
        attention="general",
        input_feeding=False,
        batch_size=32,
        steps=8000,
        max_time=840.0,
        lr=2e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=500,
        eval_batch_size=500,
    )

    def __init__(self, T: int = 50, symbols: int = 26, min_length: int = 1, seed: int = 0) -> None:
        check_positive("T", T)
        check_positive("min_length", min_length)
        if min_length > T:
            raise ValueError(f"min_length={min_length} exceeds T={T}; expected min_length <= T")
        if not isinstance(symbols, int) or not 2 <= symbols <= MAX_SYMBOLS:
            raise ValueError(f"symbols={symbols!r}; expected an integer in [2, {MAX_SYMBOLS}]")
        self.T, self.symbols, self.min_length, self.seed = T, symbols, min_length, seed
        vocab = TokenVocab(list(string.ascii_lowercase[:symbols]))
        self._set_vocabs(vocab, vocab, max_target_length=T + 1)

    def options(self) -> dict[str, Any]:
        return {"T": self.T}

    def transform(self, source: list[int]) -> list[int]:
        raise NotImplementedError

    def make_pairs(
        self, n: int, generator: torch.Generator
    ) -> tuple[list[list[int]], list[list[int]]]:
        lengths = torch.randint(self.min_length, self.T + 1, (n,), generator=generator).tolist()
        ids = torch.randint(4, 4 + self.symbols, (n, self.T), generator=generator).tolist()
        sources = [row[:L] for row, L in zip(ids, lengths, strict=True)]
        return sources, [self.transform(s) for s in sources]


class ReverseTask(SymbolTask):
    """Reverse a string of random symbols: ``"c a b" -> "b a c"`` (see the module docstring)."""

    name: ClassVar[str] = "reverse"
    description: ClassVar[str] = (
        "seq2seq: reverse a string of random letters, lengths 1..T (default 50); exact match"
    )

    def transform(self, source: list[int]) -> list[int]:
        return source[::-1]


class SortTask(SymbolTask):
    """Sort a string of random symbols: ``"c a b" -> "a b c"`` (see the module docstring)."""

    name: ClassVar[str] = "sort"
    description: ClassVar[str] = (
        "seq2seq: sort a string of random letters, lengths 1..T (default 20); exact match"
    )

    def __init__(self, T: int = 20, symbols: int = 26, min_length: int = 1, seed: int = 0) -> None:
        super().__init__(T=T, symbols=symbols, min_length=min_length, seed=seed)

    def transform(self, source: list[int]) -> list[int]:
        return sorted(source)
