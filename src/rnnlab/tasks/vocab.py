"""A character vocabulary: the sorted distinct characters of a training text plus ``unk``.

Ids ``0..len(chars)-1`` are the characters in code-point order; the last id,
``vocab.unk``, stands for every character the training text did not contain (it decodes
to :data:`UNK_CHAR`). The vocabulary is saved with a checkpoint (:meth:`CharVocab.to_json`)
so a trained model reads and writes text with exactly the ids it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

UNK_CHAR = "\ufffd"  # what the unknown id decodes to (the Unicode replacement character)


def _code_points(text: str) -> np.ndarray:
    """The code points of ``text`` as a ``(len(text),)`` uint32 array (fast, no Python loop)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharVocab:
    """Characters <-> ids.

    Args:
        chars: the distinct characters, each a single code point; they are sorted, so
            ``CharVocab(set(text))`` and ``CharVocab(sorted(set(text)))`` are the same.

    Attributes:
        chars: the known characters in id order (code-point order).
        unk: the id of unknown characters, ``len(chars)``.

    Example::

        vocab = CharVocab.from_text("hello")     # chars e h l o, unk = 4
        vocab.encode("hole!")                     # tensor([1, 3, 2, 0, 4])
        vocab.decode([1, 0, 4])                   # 'he\ufffd'
    """

    def __init__(self, chars: Sequence[str] | set[str]) -> None:
        ordered = sorted(set(chars))
        for c in ordered:
            if len(c) != 1:
                raise ValueError(f"vocabulary entry {c!r} is not a single character")
        self.chars: list[str] = ordered
        self.unk: int = len(ordered)
        self._codes = np.array([ord(c) for c in ordered], dtype=np.uint32)  # sorted
        self._index = {c: i for i, c in enumerate(ordered)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of the distinct characters of ``text``."""
        return cls(set(text))

    def __len__(self) -> int:
        """Number of ids: the known characters plus ``unk``."""
        return len(self.chars) + 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"CharVocab({len(self.chars)} chars + unk)"

    def encode(self, text: str) -> Tensor:
        """``text`` as a ``(len(text),)`` long tensor of ids; unseen characters -> ``unk``."""
        codes = _code_points(text)
        if len(self._codes) == 0:
            return torch.full((len(codes),), self.unk, dtype=torch.long)
        ids = np.searchsorted(self._codes, codes)
        ids = np.minimum(ids, len(self._codes) - 1)
        ids[self._codes[ids] != codes] = self.unk
        return torch.from_numpy(ids.astype(np.int64))

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """The text of ``ids`` (any 1-D sequence); ``unk`` decodes to :data:`UNK_CHAR`."""
        values = ids.flatten().tolist() if isinstance(ids, Tensor) else list(ids)
        out = []
        for i in values:
            i = int(i)
            if not 0 <= i <= self.unk:
                raise ValueError(f"id {i} out of range; expected 0..{self.unk}")
            out.append(UNK_CHAR if i == self.unk else self.chars[i])
        return "".join(out)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable description: ``{"type": "char", "chars": [...]}``."""
        return {"type": "char", "chars": list(self.chars)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CharVocab:
        """The vocabulary saved by :meth:`to_json`."""
        if data.get("type", "char") != "char" or not isinstance(data.get("chars"), list):
            raise ValueError(f"not a character vocabulary: keys {sorted(data)}")
        return cls(data["chars"])
