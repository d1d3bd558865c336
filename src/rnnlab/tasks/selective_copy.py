"""Selective copying (Gu & Dao 2023, the Mamba paper's synthetic task)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from rnnlab._checks import check_positive
from rnnlab.tasks.base import IGNORE_INDEX, Batch, GeneratedTask

BLANK = 0  # the noise token


def make_selective_copy_batch(
    T: int, tokens: int, vocab: int, batch_size: int, generator: torch.Generator
) -> Batch:
    """One batch: ``tokens`` symbols from ``1..vocab`` at random positions of a region of
    ``T`` steps, blanks (0) elsewhere, then ``tokens`` markers (``vocab + 1``); the target
    is the symbols in order on the marker steps and ``-100`` (ignored) everywhere else.
    Inputs are one-hot over ``vocab + 2`` classes, length ``T + tokens``."""
    symbols = torch.randint(1, vocab + 1, (batch_size, tokens), generator=generator)
    # distinct positions, in increasing order: the order the symbols must come back in
    scores = torch.rand(batch_size, T, generator=generator)
    positions = scores.topk(tokens, dim=1).indices.sort(dim=1).values  # (B, tokens)
    seq = torch.full((batch_size, T + tokens), BLANK, dtype=torch.long)
    seq.scatter_(1, positions, symbols)
    seq[:, T:] = vocab + 1  # "now copy" markers
    y = torch.full((batch_size, T + tokens), IGNORE_INDEX, dtype=torch.long)
    y[:, T:] = symbols
    return Batch(F.one_hot(seq, vocab + 2).float(), y)


class SelectiveCopyTask(GeneratedTask):
    """Selective copying: remember the ``tokens`` symbols scattered among ``T`` noise
    steps and emit them in order after the region (Gu & Dao 2023, section 3.1: length
    4096, 16 symbols to copy, a vocabulary of 16).

    Unlike the copy-memory task the symbols sit at random positions, so a model must
    decide from the content what to keep (a time-invariant recurrence cannot just count
    steps). ``accuracy`` is the fraction of symbols recalled (per token, over the
    marker steps); the baseline is chance, ``1 / vocab``. Kind ``tag``: the model reads
    one-hot ``(B, T + tokens, vocab + 2)`` and outputs ``vocab + 1`` classes per step.
    """

    name: ClassVar[str] = "selective-copy"
    description: ClassVar[str] = (
        "selective copying (Gu & Dao 2023): recall 16 symbols scattered among T noise steps"
    )
    defaults: ClassVar[dict[str, Any]] = dict(
        model="mingru",
        hidden_size=64,
        num_layers=3,
        batch_size=32,
        steps=20000,
        lr=3e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=100,
    )
    split_sizes: ClassVar[dict[str, int]] = {"val": 256, "test": 512}

    def __init__(self, T: int = 256, tokens: int = 16, vocab: int = 16, seed: int = 0) -> None:
        check_positive("T", T)
        check_positive("tokens", tokens)
        check_positive("vocab", vocab)
        if tokens > T:
            raise ValueError(f"selective-copy needs tokens <= T, got tokens={tokens}, T={T}")
        self.T, self.tokens, self.vocab_size, self.seed = T, tokens, vocab, seed
        self.kind = "tag"
        self.input_size = vocab + 2
        self.output_size = vocab + 1
        self.main_metric = "accuracy"
        self.higher_is_better = True
        self.baseline = 1.0 / vocab

    def options(self) -> dict[str, Any]:
        return {"T": self.T, "tokens": self.tokens, "vocab": self.vocab_size}

    def training_defaults(self, model: str | None = None) -> dict[str, Any]:
        """The class's ``defaults``; for ``mingru`` a rate of ``1e-2`` decayed by a cosine
        and chrono-initialised gates (memory time scales up to ``T``), which learn about
        2.5x faster than the constant ``3e-3`` (benchmarks/RESULTS.md, "selective-copy at
        its target size")."""
        recipe = super().training_defaults(model)
        if (model or self.defaults["model"]) == "mingru":
            recipe.update(lr=1e-2, schedule="cosine", chrono_delay=max(self.T, 3))
        return recipe

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        T, tokens, vocab = self.T, self.tokens, self.vocab_size
        return make_selective_copy_batch(T, tokens, vocab, batch_size, generator)
