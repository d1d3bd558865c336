"""Machine translation: Multi30k (en, de, fr) or Tatoeba English-French, scored by BLEU.

Corpus (``data``):

* a folder (or ``None``: the download cache) -> Multi30k, any pair of ``en``, ``de``,
  ``fr`` (default ``en -> de``). Splits: ``train`` = the official train minus ``val``, a
  1000-pair hold-out drawn with the run's seed and used for checkpoint selection (10% of
  a training file under 10000 pairs);
  ``test`` = the **official validation set**, so the reported test BLEU (the usual
  "Multi30k validation BLEU") is untouched by model selection.
* a file ``eng-fra.txt`` / ``.gz`` / ``.zip``, or ``short=True`` without ``data`` -> Tatoeba
  (default ``en -> fr``); ``short`` applies the PyTorch tutorial's filter. Splits: 80/10/10
  of the distinct source sentences, ``test`` fixed for every seed, ``val`` drawn with the
  seed (:func:`~rnnlab.tasks.translation_data.split_by_source`).

Text is tokenised with Moses (:class:`~rnnlab.tasks.moses.MosesTokenizer`, case kept);
word vocabularies keep the ``train`` tokens seen at least ``min_freq`` times (the rest are
``<unk>``) and are saved with the run. Model outputs are detokenised and scored against
the raw references: ``bleu`` and ``chrf`` (sacrebleu, 13a) and ``exact_match``
(:mod:`rnnlab.tasks.metrics`); ``bleu`` is the main metric.

Training batches are length-bucketed (:func:`~rnnlab.tasks.seq2seq.bucketed_batches`):
each epoch's shuffled pairs are cut into pools of :data:`POOL_BATCHES` batches, each pool
is sorted by source length and cut into batches, and the batches are shuffled, so a batch
pads little; the stream is a pure function of ``(seed, step)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import check_unit_interval
from rnnlab.tasks.base import IGNORE_INDEX, Batch, task_generator
from rnnlab.tasks.metrics import translation_scores
from rnnlab.tasks.moses import MosesTokenizer
from rnnlab.tasks.seq2seq import Seq2SeqTask, bucketed_batches, collate
from rnnlab.tasks.tokens import TokenVocab
from rnnlab.tasks.translation_data import (
    MULTI30K_LANGS,
    TATOEBA_LANGS,
    check_pair,
    multi30k_folder,
    multi30k_splits,
    read_multi30k,
    read_tatoeba,
    split_by_source,
    tatoeba_path,
)

POOL_BATCHES = 50  # batches per length-sorted pool (bucketing)
TRAIN_STREAM = 1  # task_generator stream of the epoch order (as in DatasetTask)
LENGTH_SLACK = 10  # decoding may emit this many tokens beyond the longest training target


def _pair(src: str | None, tgt: str | None, default_src: str, default_tgt: str) -> tuple[str, str]:
    """The language pair with the missing side(s) filled from the defaults."""
    if src is None:
        src = default_src if tgt != default_src else default_tgt
    if tgt is None:
        tgt = default_tgt if src != default_tgt else default_src
    return src, tgt


class TranslationTask(Seq2SeqTask):
    """Translation between two languages of Multi30k or Tatoeba (see the module docstring).

    Args:
        data: a Multi30k folder, a Tatoeba file, or ``None`` (the cache: Multi30k, or
            Tatoeba with ``short``).
        src, tgt: language codes (``None``: ``en`` and ``de`` for Multi30k, ``en`` and
            ``fr`` for Tatoeba).
        short: Tatoeba only: keep the pairs of the PyTorch tutorial's filter.
        download: fetch missing files into ``cache_dir`` (checksummed).
        cache_dir: the download cache (default ``~/.cache/rnnlab``).
        seed: fixes ``val`` and the training stream (``test`` is fixed for every seed).
        min_freq: vocabulary cut-off (train tokens seen fewer times become ``<unk>``).
        lowercase: lowercase all text (off: BLEU is then computed on lowercased
            references too, which is not comparable with cased figures).
        label_smoothing: the training loss's label smoothing ``eps`` (Szegedy et al. 2016):
            ``(1 - eps) * CE(y) + eps * mean_k(-log p_k)`` per target token. The ``loss``
            logged for ``val``/``test`` is the plain cross-entropy.

    Attributes:
        corpus: ``"multi30k"`` or ``"tatoeba"``; references: raw target sentences per split.
    """

    name: ClassVar[str] = "translate"
    description: ClassVar[str] = (
        "translation: Multi30k en/de/fr (--data FOLDER) or Tatoeba en-fr (--data FILE, "
        "--short); BLEU"
    )
    main_metric = "bleu"
    higher_is_better = True
    baseline = None
    # Multi30k en->de on a 2-core CPU in about 45 minutes of training (see the README)
    defaults: ClassVar[dict[str, Any]] = dict(
        model="gru",
        hidden_size=256,
        embedding_size=256,
        num_layers=1,
        bidirectional=True,
        attention="additive",
        input_feeding=True,
        dropout=0.3,
        batch_size=64,
        steps=6000,
        lr=2e-3,
        optimizer="adam",
        schedule="cosine",
        warmup_steps=200,
        clip=1.0,
        eval_every=1000,
        eval_batch_size=250,
        beam_size=5,
    )

    def __init__(
        self,
        data: str | None = None,
        src: str | None = None,
        tgt: str | None = None,
        short: bool = False,
        download: bool = False,
        cache_dir: str | None = None,
        seed: int = 0,
        min_freq: int = 2,
        lowercase: bool = False,
        label_smoothing: float = 0.1,
    ) -> None:
        check_unit_interval("label_smoothing", label_smoothing)
        self.label_smoothing = float(label_smoothing)
        self.data, self.short, self.download, self.cache_dir = data, short, download, cache_dir
        self.seed, self.min_freq, self.lowercase = seed, min_freq, lowercase
        is_file = data is not None and Path(data).expanduser().is_file()
        self.corpus = "tatoeba" if is_file or (data is None and short) else "multi30k"
        if self.corpus == "tatoeba":
            self.src, self.tgt = _pair(src, tgt, "en", "fr")
            check_pair(self.src, self.tgt, TATOEBA_LANGS, "Tatoeba English-French")
            path = tatoeba_path(data, download, cache_dir)
            splits = split_by_source(read_tatoeba(path, self.src, self.tgt, short), seed)
            where = f"Tatoeba {path}{' (tutorial short filter)' if short else ''}"
            rule = "80/10/10 of the distinct source sentences; test fixed, val by seed"
        else:
            if short:
                raise ValueError(
                    "short (the tutorial filter) applies to Tatoeba; give --data eng-fra.txt "
                    "or drop --short"
                )
            self.src, self.tgt = _pair(src, tgt, "en", "de")
            check_pair(self.src, self.tgt, MULTI30K_LANGS, "Multi30k")
            folder = multi30k_folder(data, self.src, self.tgt, download, cache_dir)
            splits = multi30k_splits(read_multi30k(folder, self.src, self.tgt), seed)
            where = f"Multi30k {folder}"
            rule = (
                f"val = {len(splits['val'])} pairs held out of train with the seed "
                "(checkpoint selection); test = the official validation set"
            )
        source_tok = MosesTokenizer(self.src, lowercase)
        target_tok = MosesTokenizer(self.tgt, lowercase)
        tokens = {
            name: (
                [source_tok.tokenize(s) for s in part.source],
                [target_tok.tokenize(s) for s in part.target],
            )
            for name, part in splits.items()
        }
        src_vocab = TokenVocab.build(tokens["train"][0], min_freq=min_freq)
        tgt_vocab = TokenVocab.build(tokens["train"][1], min_freq=min_freq)
        longest = max(len(t) for t in tokens["train"][1])
        self._set_vocabs(src_vocab, tgt_vocab, longest + 1 + LENGTH_SLACK, source_tok, target_tok)
        # pairs with an empty side teach nothing (and an empty source cannot be read)
        train = [
            (src_vocab.encode(s), tgt_vocab.encode(t))
            for s, t in zip(*tokens["train"], strict=True)
            if s and t
        ]
        self._train_src = [s for s, _ in train]
        self._train_tgt = [t for _, t in train]
        self._splits: dict[str, Batch] = {}
        self.references_text: dict[str, list[str]] = {}
        for name in ("val", "test"):
            part = splits[name]
            src_ids = [src_vocab.encode(s) for s in tokens[name][0]]
            tgt_ids = [tgt_vocab.encode(t) for t in tokens[name][1]]
            self._splits[name] = collate(src_ids, tgt_ids)
            self.references_text[name] = list(part.target)
        self.sizes = {name: len(part) for name, part in splits.items()}
        self.note = (
            f"{where}, {self.src}->{self.tgt}: train {len(train)}, val {self.sizes['val']}, "
            f"test {self.sizes['test']} ({rule}); vocabularies {len(src_vocab)} / "
            f"{len(tgt_vocab)} (min_freq {min_freq})"
        )
        self.metadata = {
            "corpus": self.corpus,
            "src": self.src,
            "tgt": self.tgt,
            "sizes": {"train": len(train), "val": self.sizes["val"], "test": self.sizes["test"]},
            "splits": rule,
        }

    # -- data -----------------------------------------------------------------------------
    def split(self, name: str) -> Batch:
        if name not in self._splits:
            raise ValueError(f"unknown split {name!r}; expected val or test")
        return self._splits[name]

    def _epoch_batches(self, epoch: int, batch_size: int) -> list[list[int]]:
        """The row indices of every batch of ``epoch``
        (:func:`~rnnlab.tasks.seq2seq.bucketed_batches` by source length, drawn with
        ``task_generator(seed, 1, epoch)``)."""
        cache: dict[tuple[int, int], list[list[int]]] = self.__dict__.setdefault("_epochs", {})
        key = (epoch, batch_size)
        if key not in cache:
            cache.clear()
            generator = task_generator(self.seed, TRAIN_STREAM, epoch)
            lengths = [len(s) for s in self._train_src]
            cache[key] = bucketed_batches(lengths, batch_size, generator, POOL_BATCHES)
        return cache[key]

    def train_batch(self, step: int, batch_size: int) -> Batch:
        epoch, k = divmod(step, self.steps_per_epoch(batch_size))
        rows = self._epoch_batches(epoch, batch_size)[k]
        return collate([self._train_src[i] for i in rows], [self._train_tgt[i] for i in rows])

    def steps_per_epoch(self, batch_size: int) -> int:
        """Training batches per pass over the training pairs (the same every epoch: each
        pool but the last holds whole batches)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        n, pool = len(self._train_src), POOL_BATCHES * batch_size
        full, rest = divmod(n, pool)
        return full * POOL_BATCHES + math.ceil(rest / batch_size)

    def loss(self, out: Tensor, batch: Batch) -> Tensor:
        """Mean label-smoothed cross-entropy per target token, padding ignored."""
        return F.cross_entropy(
            out.flatten(0, 1),
            batch.targets.flatten(),
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.label_smoothing,
        )

    # -- scoring --------------------------------------------------------------------------
    def score(
        self, hypotheses: Sequence[Sequence[int]], split: str, rows: Sequence[int] | None = None
    ) -> dict[str, float]:
        """``bleu``, ``chrf`` (0-100) and ``exact_match`` (0-1) of decoded ids (one list per
        row, no ``BOS``/``EOS``), detokenised, against the raw references of ``split`` (or
        of its ``rows``)."""
        if split not in self.references_text:
            raise ValueError(f"unknown split {split!r}; expected val or test")
        refs = self.references_text[split]
        if rows is not None:
            refs = [refs[i] for i in rows]
        if len(hypotheses) != len(refs):
            raise ValueError(
                f"{len(hypotheses)} hypotheses for {len(refs)} rows of split {split!r}; "
                "expected one per row"
            )
        return translation_scores([self.decode_target(list(h)) for h in hypotheses], refs)

    def options(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this task (with the seed given separately)."""
        given: dict[str, Any] = {"src": self.src, "tgt": self.tgt}
        optional = {
            "data": (self.data, None),
            "short": (self.short, False),
            "download": (self.download, False),
            "cache_dir": (self.cache_dir, None),
            "min_freq": (self.min_freq, 2),
            "lowercase": (self.lowercase, False),
            "label_smoothing": (self.label_smoothing, 0.1),
        }
        given.update({k: v for k, (v, default) in optional.items() if v != default})
        return given
