"""What every sequence-to-sequence task shares: vocabularies, batch layout and scoring.

Layout of a seq2seq :class:`~rnnlab.tasks.base.Batch` (``kind = "seq2seq"``):

* ``x (B, S)`` long: source ids, each row ending with :data:`~rnnlab.tasks.tokens.EOS`,
  padded with :data:`~rnnlab.tasks.tokens.PAD`;
* ``lengths (B,)`` long: source lengths, ``EOS`` included (always given);
* ``y (B, T)`` long: target ids, each row ending with ``EOS``, padded with
  :data:`~rnnlab.tasks.base.IGNORE_INDEX`.

The decoder reads ``BOS, y_1, ..., y_{n-1}`` (teacher forcing) and is trained to emit
``y_1, ..., y_n = EOS``; the model builds that shifted input itself. The loss is the mean
cross-entropy per target token, padding ignored.

Token ids in the user-facing helpers (:meth:`Seq2SeqTask.encode_source`,
:meth:`Seq2SeqTask.decode_target`, :meth:`Seq2SeqTask.score`, :func:`collate`) carry no
specials: :func:`collate` appends ``EOS``; decoded outputs are cut at their first ``EOS``
(:func:`trim`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.tasks.base import IGNORE_INDEX, Batch, GeneratedTask, Task
from rnnlab.tasks.spec import Evaluator
from rnnlab.tasks.tokens import (
    EOS,
    PAD,
    Tokenizer,
    TokenVocab,
    WhitespaceTokenizer,
    tokenizer_from_json,
)


def pad_ids(rows: Sequence[Sequence[int]], fill: int, end: int | None = EOS) -> Tensor:
    """``rows`` as a ``(B, L)`` long tensor, each row followed by ``end`` (unless ``None``)
    and padded with ``fill`` to the longest."""
    if len(rows) == 0:
        raise ValueError("cannot pad an empty list of sequences")
    extra = 0 if end is None else 1
    L = max(len(r) for r in rows) + extra
    out = torch.full((len(rows), max(L, 1)), fill, dtype=torch.long)
    for b, r in enumerate(rows):
        seq = [*r, end] if end is not None else list(r)
        if seq:
            out[b, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def collate_sources(sources: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Source id lists (no specials) -> ``x (B, S)`` (``EOS`` appended, ``PAD`` after) and
    ``lengths (B,)``."""
    x = pad_ids(sources, PAD)
    lengths = torch.tensor([len(s) + 1 for s in sources], dtype=torch.long)
    return x, lengths


def collate(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> Batch:
    """Pairs of id lists (no specials) -> a seq2seq :class:`Batch` (see the module
    docstring): ``EOS`` appended to both sides, sources padded with ``PAD``, targets with
    ``IGNORE_INDEX``."""
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets; expected pairs")
    x, lengths = collate_sources(sources)
    return Batch(x, pad_ids(targets, IGNORE_INDEX), lengths)


def trim(ids: Sequence[int] | Tensor) -> list[int]:
    """A decoded row up to its first ``EOS`` (excluded), as a list of ids."""
    values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
    return values[: values.index(EOS)] if EOS in values else values


def target_ids(y: Tensor) -> list[list[int]]:
    """The rows of a target tensor ``y (B, T)`` as id lists without ``EOS`` and padding."""
    return [[int(v) for v in row if v != IGNORE_INDEX][:-1] for row in y.tolist()]


def source_ids(x: Tensor, lengths: Tensor) -> list[list[int]]:
    """The rows of a source tensor ``x (B, S)`` as id lists without ``EOS`` and padding."""
    return [row[: int(n) - 1] for row, n in zip(x.tolist(), lengths.tolist(), strict=True)]


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator, pool: int = 50
) -> list[list[int]]:
    """One epoch of training batches (row indices) with similar lengths inside each batch.

    The rows are shuffled, cut into pools of ``pool * batch_size`` rows, each pool sorted
    by ``lengths`` and cut into batches, and the batches shuffled: padding (and with it the
    encoder's, decoder's and output layer's wasted work) shrinks, while every epoch still
    sees the rows in a fresh random grouping. The last batch may be smaller.
    """
    check_positive("batch_size", batch_size)
    check_positive("pool", pool)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    batches: list[list[int]] = []
    size = pool * batch_size
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def check_max_target_length(value: int) -> None:
    check_positive("max_target_length", value)


@dataclass(frozen=True)
class Seq2SeqCodec:
    """Everything needed to turn text into model inputs and outputs back into text: the
    vocabularies, the tokenisers and the decoding limit. Saved in a run's ``config.json``
    (``task_info["codec"]``), so a trained model translates without its corpus."""

    src_vocab: TokenVocab
    tgt_vocab: TokenVocab
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    max_target_length: int

    def encode_source(self, text: str) -> list[int]:
        """Source ids of ``text`` (no specials; unknown tokens -> ``UNK``)."""
        return self.src_vocab.encode(self.source_tokenizer.tokenize(text))

    def decode_target(self, ids: Sequence[int] | Tensor) -> str:
        """The text of target ids (cut at ``EOS``, ``PAD``/``BOS`` skipped)."""
        values = ids.tolist() if isinstance(ids, Tensor) else ids
        return self.target_tokenizer.detokenize(self.tgt_vocab.decode(values))

    def to_json(self) -> dict[str, Any]:
        return {
            "src_vocab": self.src_vocab.to_json(),
            "tgt_vocab": self.tgt_vocab.to_json(),
            "source_tokenizer": self.source_tokenizer.to_json(),
            "target_tokenizer": self.target_tokenizer.to_json(),
            "max_target_length": self.max_target_length,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seq2SeqCodec:
        try:
            return cls(
                TokenVocab.from_json(data["src_vocab"]),
                TokenVocab.from_json(data["tgt_vocab"]),
                tokenizer_from_json(data["source_tokenizer"]),
                tokenizer_from_json(data["target_tokenizer"]),
                int(data["max_target_length"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a seq2seq codec: missing {exc}") from None


class Seq2SeqTask(Task):
    """Base class of sequence-to-sequence tasks (``kind = "seq2seq"``).

    Subclasses call :meth:`_set_vocabs` in their constructor and implement
    :meth:`~rnnlab.tasks.base.Task.split` and :meth:`~rnnlab.tasks.base.Task.train_batch`
    in the layout of the module docstring (:func:`collate` builds it). :meth:`score`
    gives ``exact_match``; translation tasks override it with BLEU and chrF.

    Attributes:
        src_vocab, tgt_vocab: the :class:`TokenVocab` of each side.
        source_tokenizer, target_tokenizer: text <-> tokens of each side.
        input_size: ``len(src_vocab)``; output_size: ``len(tgt_vocab)``.
        max_target_length: the most tokens decoding may emit, ``EOS`` included.
    """

    kind = "seq2seq"
    main_metric = "exact_match"
    higher_is_better = True
    baseline: float | None = None
    src_vocab: TokenVocab
    tgt_vocab: TokenVocab
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    max_target_length: int

    def _set_vocabs(
        self,
        src_vocab: TokenVocab,
        tgt_vocab: TokenVocab,
        max_target_length: int,
        source_tokenizer: Tokenizer | None = None,
        target_tokenizer: Tokenizer | None = None,
    ) -> None:
        check_max_target_length(max_target_length)
        self.kind = "seq2seq"
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.source_tokenizer = source_tokenizer or WhitespaceTokenizer()
        self.target_tokenizer = target_tokenizer or WhitespaceTokenizer()
        self.input_size, self.output_size = len(src_vocab), len(tgt_vocab)
        self.max_target_length = max_target_length

    @property
    def codec(self) -> Seq2SeqCodec:
        """The vocabularies, tokenisers and decoding limit, as saved with a run."""
        return Seq2SeqCodec(
            self.src_vocab,
            self.tgt_vocab,
            self.source_tokenizer,
            self.target_tokenizer,
            self.max_target_length,
        )

    def encode_source(self, text: str) -> list[int]:
        """Source ids of ``text`` (no specials)."""
        return self.codec.encode_source(text)

    def decode_target(self, ids: Sequence[int] | Tensor) -> str:
        """The text of decoded target ids (cut at ``EOS``)."""
        return self.codec.decode_target(ids)

    def references(self, split: str) -> list[list[int]]:
        """The reference target ids of ``split``, one list per row, without ``EOS``."""
        cache: dict[str, list[list[int]]] = self.__dict__.setdefault("_reference_cache", {})
        if split not in cache:
            cache[split] = target_ids(self.split(split).targets)
        return cache[split]

    def score(
        self, hypotheses: Sequence[Sequence[int]], split: str, rows: Sequence[int] | None = None
    ) -> dict[str, float]:
        """Metrics of decoded outputs against ``split``'s references.

        Args:
            hypotheses: one id list per row (no ``BOS``/``EOS``), in the split's order.
            split: ``val`` or ``test``.
            rows: when given, the hypotheses are for these rows of the split only (e.g. a
                bucket of source lengths).

        Returns:
            ``{"exact_match": fraction of rows whose output equals the reference}``.
        """
        refs = self._aligned_references(hypotheses, split, rows)
        hits = sum(list(h) == r for h, r in zip(hypotheses, refs, strict=True))
        return {"exact_match": hits / max(1, len(refs))}

    def _aligned_references(
        self, hypotheses: Sequence[Sequence[int]], split: str, rows: Sequence[int] | None
    ) -> list[list[int]]:
        refs = self.references(split)
        if rows is not None:
            refs = [refs[i] for i in rows]
        if len(hypotheses) != len(refs):
            raise ValueError(
                f"{len(hypotheses)} hypotheses for {len(refs)} rows of split {split!r}; "
                "expected one per row"
            )
        return refs

    def evaluate(self, split: str, evaluator: Evaluator) -> dict[str, float]:
        """The teacher-forced ``loss`` (nats per target token) and ``token_accuracy``, then
        :meth:`score` of the decoded outputs (greedy, or beam search of the evaluator's
        width; with a beam wider than 1 the greedy scores are added too, ``greedy_*``)."""
        data = self.split(split)
        total, hits, count = 0.0, 0, 0
        for chunk, logits in evaluator.outputs(data):
            y = chunk.targets
            real = y != IGNORE_INDEX
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
                )
            )
            hits += int(((logits.argmax(-1) == y) & real).sum())
            count += int(real.sum())
        result = {"loss": total / max(1, count), "token_accuracy": hits / max(1, count)}
        assert data.lengths is not None
        decoded = evaluator.decode(data.x, data.lengths, self.max_target_length)
        result.update(self.score(decoded, split))
        if evaluator.beam_size > 1:
            greedy = evaluator.decode(data.x, data.lengths, self.max_target_length, beam_size=1)
            result.update({f"greedy_{k}": v for k, v in self.score(greedy, split).items()})
        return result

    def metrics(self, out: Tensor, batch: Batch) -> dict[str, float]:
        """Teacher-forced ``loss`` (nats per target token) and ``token_accuracy``."""
        with torch.no_grad():
            real = batch.targets != IGNORE_INDEX
            hits = (out.argmax(-1) == batch.targets) & real
            return {
                "loss": float(self.loss(out, batch)),
                "token_accuracy": float(hits.sum() / real.sum().clamp(min=1)),
            }


class GeneratedSeq2SeqTask(Seq2SeqTask, GeneratedTask):
    """A seq2seq task whose pairs are generated in code (fresh ones every training batch,
    ``val``/``test`` drawn once). Subclasses implement :meth:`make_pairs`."""

    split_sizes: ClassVar[dict[str, int]] = {"val": 1000, "test": 1000}

    @abstractmethod
    def make_pairs(
        self, n: int, generator: torch.Generator
    ) -> tuple[list[list[int]], list[list[int]]]:
        """``n`` (source, target) id lists, without specials, drawn with ``generator``."""

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        sources, targets = self.make_pairs(batch_size, generator)
        return collate(sources, targets)
