"""Token vocabularies and tokenisers for sequence-to-sequence tasks.

A :class:`TokenVocab` maps tokens (strings) to ids. Its first four ids are reserved:

====  =========  ==========================================================
id    token      use
====  =========  ==========================================================
0     ``<pad>``  fills source rows past their length (:data:`PAD`)
1     ``<bos>``  the decoder's first input (:data:`BOS`)
2     ``<eos>``  ends every source and target sequence (:data:`EOS`)
3     ``<unk>``  every token the vocabulary lacks (:data:`UNK`)
====  =========  ==========================================================

A :class:`Tokenizer` splits text into tokens and joins them back. Both are saved with a
run (``to_json``) so a trained model reads and writes text with exactly the ids it was
trained on, without the corpus.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rnnlab._checks import check_positive

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")  # the tokens of ids 0..3


class TokenVocab:
    """Tokens <-> ids, with the four specials first (see the module docstring).

    Args:
        tokens: the ordinary tokens, in id order (ids ``4, 5, ...``); no duplicates and
            none of :data:`SPECIALS`.

    Example::

        vocab = TokenVocab.build([["a", "b", "a"], ["c"]])   # <pad> <bos> <eos> <unk> a b c
        vocab.encode(["a", "z"])                             # [4, 3]
        vocab.decode([1, 4, 5, 2, 6])                        # ['a', 'b']
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        index: dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}
        for t in tokens:
            if not isinstance(t, str) or not t:
                raise ValueError(f"vocabulary token {t!r} is not a non-empty string")
            if t in index:
                what = "a special token" if t in SPECIALS else "a duplicate"
                raise ValueError(f"vocabulary token {t!r} is {what}")
            index[t] = len(index)
        self.tokens: list[str] = tokens
        self._itos: list[str] = [*SPECIALS, *tokens]
        self._index = index

    @classmethod
    def build(
        cls, sentences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
    ) -> TokenVocab:
        """The vocabulary of the tokens of ``sentences`` seen at least ``min_freq`` times,
        by frequency (most frequent first, ties by token), at most ``max_size`` of them
        (besides the specials)."""
        check_positive("min_freq", min_freq)
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0
        ):
            raise ValueError(f"max_size must be a non-negative integer or None, got {max_size!r}")
        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(sentence)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls(ranked)

    def __len__(self) -> int:
        """Number of ids, the four specials included."""
        return len(self._itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenVocab) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"TokenVocab({len(self.tokens)} tokens + 4 specials)"

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def token_id(self, token: str) -> int:
        """The id of ``token`` (:data:`UNK` when unknown)."""
        return self._index.get(token, UNK)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """The ids of ``tokens``; unknown tokens -> :data:`UNK`. No specials are added."""
        get = self._index.get
        return [get(t, UNK) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids`` up to the first :data:`EOS` (excluded), skipping
        :data:`PAD` and :data:`BOS`; :data:`UNK` decodes to ``<unk>``."""
        out: list[str] = []
        n = len(self._itos)
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            if not 0 <= i < n:
                raise ValueError(f"token id {i} out of range; expected 0..{n - 1}")
            out.append(self._itos[i])
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable description: ``{"type": "tokens", "tokens": [...]}``."""
        return {"type": "tokens", "tokens": list(self.tokens)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenVocab:
        """The vocabulary saved by :meth:`to_json`."""
        if (
            not isinstance(data, dict)
            or data.get("type") != "tokens"
            or not isinstance(data.get("tokens"), list)
        ):
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a token vocabulary: {keys}")
        return cls(data["tokens"])


# -- tokenisers -------------------------------------------------------------------------


class Tokenizer(ABC):
    """Text <-> tokens. Subclasses register their JSON ``type`` with
    :func:`register_tokenizer` so a saved run can rebuild them."""

    @abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``."""

    @abstractmethod
    def detokenize(self, tokens: Sequence[str]) -> str:
        """Text from ``tokens`` (the inverse of :meth:`tokenize` as far as it can be)."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """``{"type": <registered name>, ...}``: what :func:`tokenizer_from_json` reads."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_json().items())))


class WhitespaceTokenizer(Tokenizer):
    """Tokens are the whitespace-separated words; detokenising joins them with spaces."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def to_json(self) -> dict[str, Any]:
        return {"type": "whitespace"}


class CharTokenizer(Tokenizer):
    """Tokens are the characters (spaces included); detokenising concatenates them."""

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def to_json(self) -> dict[str, Any]:
        return {"type": "chars"}


_TOKENIZERS: dict[str, Callable[[dict[str, Any]], Tokenizer]] = {
    "whitespace": lambda data: WhitespaceTokenizer(),
    "chars": lambda data: CharTokenizer(),
}


def register_tokenizer(kind: str, from_json: Callable[[dict[str, Any]], Tokenizer]) -> None:
    """Let :func:`tokenizer_from_json` rebuild tokenisers whose JSON ``type`` is ``kind``."""
    if kind in _TOKENIZERS:
        raise ValueError(f"tokenizer type {kind!r} is already registered")
    _TOKENIZERS[kind] = from_json


def tokenizer_from_json(data: dict[str, Any]) -> Tokenizer:
    """The tokeniser saved by its ``to_json``."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in _TOKENIZERS:
        raise ValueError(
            f"unknown tokenizer type {kind!r}; expected one of {', '.join(sorted(_TOKENIZERS))}"
        )
    return _TOKENIZERS[kind](data)
