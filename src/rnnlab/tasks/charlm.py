"""Character-level language modelling: predict the next character of a text.

Corpora (``corpus=``):

* ``"stdlib"`` (default): the source of Python's standard library read from the running
  interpreter (:func:`~rnnlab.tasks.corpora.python_stdlib_corpus`), on every machine
  without a download; its Python version and checksum are in :attr:`CharLMTask.metadata`.
* ``"file"``: any UTF-8 text file (``data=PATH``).
* ``"tinyshakespeare"``: Karpathy's Tiny Shakespeare (``data`` file or folder, the cache,
  or ``download=True``).

Splits, as in char-rnn / nanoGPT: ``train`` = the first ``int(n * (1 - val_fraction))``
characters, ``val`` = the rest (the last 10% by default); ``test`` = a separate
``test_data`` file when given, else the ``val`` text (said in :attr:`CharLMTask.note`).
The vocabulary is the training text's distinct characters plus ``unk``
(:class:`~rnnlab.tasks.vocab.CharVocab`); characters of ``val``/``test`` that the
training text lacks become ``unk`` (counted in ``metadata["unknown"]``).

Layouts (``x`` and ``y`` long ids; ``y`` is ``x`` shifted by one character):

* training, truncated BPTT over stateful streams: :meth:`CharLMTask.train_batch` gives
  ``x, y (B, T)``; batch ``k`` of a pass holds positions ``[k T, (k+1) T)`` of ``B``
  contiguous streams, so consecutive batches continue the same streams and the trainer
  carries the state from one to the next, resetting it where
  :meth:`CharLMTask.resets_state` says a new pass begins.
* evaluation: :meth:`CharLMTask.split` and :meth:`CharLMTask.encode_text` give
  ``x, y (S, N)``: the whole text as ``S = EVAL_STREAMS`` contiguous streams, evaluated
  chunk by chunk with the state carried.

Metrics: ``loss`` (nats per character) and ``bpc`` (bits per character, the main
metric); the baseline is the unigram entropy of the training text in bits per character,
the ``bpc`` of the best memoryless model.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from rnnlab.tasks.base import Batch, StreamEvaluation, task_generator
from rnnlab.tasks.corpora import (
    python_stdlib_corpus,
    read_text_file,
    text_sha256,
    tinyshakespeare_path,
)
from rnnlab.tasks.spec import Evaluator
from rnnlab.tasks.vocab import CharVocab

PREVIEW_CHARS = 200  # characters of the sample shown at each evaluation during training
EVAL_STREAMS = 16  # S: evaluation texts are cut into this many contiguous streams
CORPORA = ("stdlib", "tinyshakespeare", "file")
TRAIN_STREAM = 20  # task_generator stream id of the per-pass stream offsets


def stream_batch(tokens: Tensor, streams: int = EVAL_STREAMS) -> Batch:
    """``tokens (n,)`` as ``S`` contiguous streams: ``x, y (S, N)`` with ``N = (n-1) // S``,
    ``x[s] = tokens[s N : (s+1) N]`` and ``y[s] = tokens[s N + 1 : (s+1) N + 1]``.

    The rows of ``x`` concatenate back to ``tokens[: S N]`` and those of ``y`` to
    ``tokens[1 : S N + 1]``: every character but the first and the ``(n-1) mod S`` at the
    end (fewer than ``S``) is predicted exactly once. A text of fewer than ``S + 1``
    characters gets ``S = n - 1`` streams of one step.
    """
    n = int(tokens.numel())
    if n < 2:
        raise ValueError(f"text of {n} character(s) is too short; expected at least 2")
    S = min(streams, n - 1)
    N = (n - 1) // S
    x = tokens[: S * N].reshape(S, N)
    y = tokens[1 : S * N + 1].reshape(S, N)
    return Batch(x, y, None)


def unigram_entropy_bits(tokens: Tensor, vocab_size: int) -> float:
    """Entropy in bits of the symbol frequencies of ``tokens``: the bits per character of
    a model that ignores the context."""
    counts = torch.bincount(tokens, minlength=vocab_size).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log2()).sum())


class CharLMTask(StreamEvaluation):
    """Next-character prediction over a text corpus, trained with truncated BPTT on
    stateful streams (see the module docstring for corpora, splits and layouts).

    Args:
        corpus: ``"stdlib"``, ``"tinyshakespeare"`` or ``"file"``.
        data: the text file (``"file"``), or Tiny Shakespeare's file or folder.
        T: truncated-BPTT length, the number of steps in a training batch.
        download: fetch Tiny Shakespeare into the cache when it is not found.
        cache_dir: the download cache (default ``~/.cache/rnnlab``).
        seed: varies the training streams' cut points from one pass to the next.
        val_fraction: the fraction of the text, at its end, held out as ``val``.
        test_data: a separate UTF-8 ``test`` file; without it ``test`` is ``val``.

    Attributes:
        vocab: the :class:`CharVocab`; ``input_size = output_size = len(vocab)``.
        metadata: corpus name and source, characters per split, checksum, unknown
            characters per split, and for ``stdlib`` the interpreter's version.
        note: a one-line summary of the data and its splits.

    Example::

        task = CharLMTask("file", data="novel.txt", T=64)
        x, y, _ = task.train_batch(0, batch_size=32)   # (32, 64) each
        val = task.split("val")                        # x, y (16, N)
    """

    name: ClassVar[str] = "charlm"
    description: ClassVar[str] = (
        "character language model: Python stdlib source by default, or --data FILE"
    )
    stateful: ClassVar[bool] = True
    # Sized for a CPU: at equal training time (106 s, one thread, 3 seeds, Tiny Shakespeare)
    # one LSTM layer of 512 with T=64 reached 1.598 nats/char where 2x512 (T=128, lr 2e-3)
    # reached 1.991 and 2x256 1.715 (benchmarks/shakespeare106.sh, RESULTS.md)
    defaults: ClassVar[dict[str, Any]] = dict(
        model="lstm",
        hidden_size=512,
        num_layers=1,
        dropout=0.0,
        batch_size=32,
        steps=5000,
        lr=4e-3,
        optimizer="adamw",
        weight_decay=0.01,
        schedule="cosine",
        warmup_steps=30,
        clip=1.0,
        eval_every=500,
    )
    # hmrnn is already a 3-level hierarchy inside one cell: one layer of it, not a stack of two
    model_defaults: ClassVar[dict[str, dict[str, Any]]] = {"hmrnn": dict(num_layers=1)}

    def __init__(
        self,
        corpus: str = "stdlib",
        data: str | None = None,
        T: int = 128,
        download: bool = False,
        cache_dir: str | None = None,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_data: str | None = None,
    ) -> None:
        if corpus not in CORPORA:
            raise ValueError(f"unknown corpus {corpus!r}; expected one of {', '.join(CORPORA)}")
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"T={T!r}; expected a positive number of steps")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction={val_fraction!r}; expected a number in (0, 1)")
        self.corpus, self.data, self.T = corpus, data, T
        self.eval_chunk = T
        self.download, self.cache_dir, self.seed = download, cache_dir, seed
        self.val_fraction, self.test_data = val_fraction, test_data

        text, meta = self._load(corpus, data, download, cache_dir)
        n = len(text)
        n_train = int(n * (1.0 - val_fraction))
        if n_train < 2 or n - n_train < 2:
            raise ValueError(
                f"{meta['source']}: {n} characters are too few to split with "
                f"val_fraction={val_fraction}; expected at least 2 for train and for val"
            )
        train_text, val_text = text[:n_train], text[n_train:]
        self.vocab = CharVocab.from_text(train_text)
        self._train = self.vocab.encode(train_text)
        self._tokens = {"train": self._train, "val": self.vocab.encode(val_text)}
        if test_data is not None:
            test_text = read_text_file(test_data)
            if len(test_text) < 2:
                raise ValueError(f"test file {test_data!r} has 1 character; expected at least 2")
            self._tokens["test"] = self.vocab.encode(test_text)
        else:
            self._tokens["test"] = self._tokens["val"]
        self.test_is_val = test_data is None
        self._splits: dict[str, Batch] = {}

        self.kind = "lm"
        self.input_size = self.output_size = len(self.vocab)
        self.main_metric = "bpc"
        self.higher_is_better = False
        self.baseline = unigram_entropy_bits(self._train, len(self.vocab))
        self.metadata: dict[str, Any] = {
            **meta,
            "sha256": text_sha256(text),
            "chars": {s: int(t.numel()) for s, t in self._tokens.items()},
            "vocab_size": len(self.vocab),
            "unknown": {s: int((self._tokens[s] == self.vocab.unk).sum()) for s in ("val", "test")},
            "test": "val" if test_data is None else str(test_data),
        }
        chars = self.metadata["chars"]
        self.note = (
            f"{meta['source']}: {n:,} characters, train {chars['train']:,} / val "
            f"{chars['val']:,} (last {val_fraction:.0%}); "
            + (
                "test == val (no test file given)"
                if test_data is None
                else f"test {chars['test']:,} from {test_data}"
            )
            + f"; vocabulary {len(self.vocab.chars)} characters + unk; "
            f"unigram baseline {self.baseline:.3f} bits/char"
        )

    @staticmethod
    def _load(
        corpus: str, data: str | None, download: bool, cache_dir: str | None
    ) -> tuple[str, dict[str, Any]]:
        if corpus == "stdlib":
            if data is not None:
                raise ValueError(f"corpus 'stdlib' takes no data file (got {data!r})")
            text, stdlib = python_stdlib_corpus()
            source = f"Python {stdlib['python_version']} standard library source"
            return text, {"corpus": corpus, "source": source, "stdlib": stdlib}
        if corpus == "file":
            if data is None:
                raise ValueError("corpus 'file' needs a text file: pass --data FILE")
            return read_text_file(data), {"corpus": corpus, "source": str(data)}
        path = tinyshakespeare_path(cache_dir, download, data)
        return read_text_file(path), {"corpus": corpus, "source": f"Tiny Shakespeare {path}"}

    # -- training stream --------------------------------------------------------------
    def chunks_per_pass(self, batch_size: int) -> int:
        """Training batches per pass over the text with ``batch_size`` streams: each
        stream holds ``L = n_train // batch_size`` characters, cut into ``(L - 1) // T``
        chunks of ``T`` inputs (and ``T`` targets, one character further)."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}; expected a positive number of streams")
        n = int(self._train.numel())
        chunks = (n // batch_size - 1) // self.T
        if chunks < 1:
            raise ValueError(
                f"training text of {n:,} characters is too short for {batch_size} streams "
                f"of T+1={self.T + 1} characters; lower the batch size or T"
            )
        return chunks

    def train_batch(self, step: int, batch_size: int) -> Batch:
        """Batch ``step``: ``x, y (B, T)`` long, ``y`` = ``x`` shifted by one character.

        Pass ``p, k = divmod(step, chunks_per_pass(B))``: the training text, rotated by an
        offset drawn from ``(seed, p)``, is cut into ``B`` contiguous streams of ``L``
        characters (the last ``n mod B`` dropped); batch ``k`` holds steps
        ``[k T, (k+1) T)`` of every stream, so ``x[b, 0]`` of batch ``k+1`` is ``y[b, -1]``
        of batch ``k``. Each pass thus sees different cut points. Because of the rotation,
        one stream per pass runs from the end of the text on to its start (one spurious
        transition in ``n``).
        """
        K = self.chunks_per_pass(batch_size)
        p, k = divmod(step, K)
        n = int(self._train.numel())
        L = n // batch_size
        offset = int(torch.randint(n, (1,), generator=task_generator(self.seed, TRAIN_STREAM, p)))
        starts = offset + torch.arange(batch_size) * L + k * self.T  # (B,)
        index = (starts[:, None] + torch.arange(self.T + 1)) % n  # (B, T+1)
        chunk = self._train[index]
        return Batch(chunk[:, :-1], chunk[:, 1:], None)

    def resets_state(self, step: int, batch_size: int) -> bool:
        """True when batch ``step`` begins a pass (new streams), so the carried state must
        be reset; always true for step 0."""
        return step % self.chunks_per_pass(batch_size) == 0

    # -- evaluation -------------------------------------------------------------------
    def split(self, name: str) -> Batch:
        """``"val"``, ``"test"`` (or ``"train"``) as ``x, y (S, N)`` long: the split's
        text as ``S = EVAL_STREAMS`` contiguous streams (see :func:`stream_batch`; the
        last ``(n - 1) mod S`` characters are dropped)."""
        if name not in self._tokens:
            raise ValueError(f"unknown split {name!r}; expected val, test or train")
        if name not in self._splits:
            self._splits[name] = stream_batch(self._tokens[name])
        return self._splits[name]

    def tokens(self, name: str) -> Tensor:
        """The whole text of split ``name`` (``train``, ``val`` or ``test``) as ``(n,)``
        long ids, in order."""
        if name not in self._tokens:
            raise ValueError(f"unknown split {name!r}; expected val, test or train")
        return self._tokens[name]

    def preview(self, evaluator: Evaluator) -> str | None:
        """:data:`PREVIEW_CHARS` characters sampled (temperature 1, seed 0) after a newline."""
        generator = torch.Generator(device=evaluator.device).manual_seed(0)
        prompt = self.vocab.encode("\n")
        tokens = evaluator.continuation(prompt, PREVIEW_CHARS, generator=generator)
        return self.vocab.decode(tokens.tolist())

    def encode_text(self, text: str) -> Batch:
        """Any text, encoded with this task's vocabulary, in the layout of :meth:`split`."""
        return stream_batch(self.vocab.encode(text))

    def options(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this task (with the seed given separately):
        ``CharLMTask(**task.options(), seed=seed)``."""
        given: dict[str, Any] = {"corpus": self.corpus, "T": self.T}
        optional = {
            "data": (self.data, None),
            "download": (self.download, False),
            "cache_dir": (self.cache_dir, None),
            "val_fraction": (self.val_fraction, 0.1),
            "test_data": (self.test_data, None),
        }
        given.update({k: v for k, (v, default) in optional.items() if v != default})
        return given


def bits_per_char(loss_nats: float) -> float:
    """Nats per character to bits per character."""
    return loss_nats / math.log(2)
