"""Multi-query associative recall (MQAR; Arora et al. 2023, the zoology benchmark)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from rnnlab._checks import check_positive
from rnnlab.tasks.base import IGNORE_INDEX, Batch, GeneratedTask

BLANK = 0  # filler between the queries


def make_mqar_batch(
    T: int, pairs: int, vocab: int, batch_size: int, generator: torch.Generator
) -> Batch:
    """One batch of MQAR, one-hot over ``vocab`` token ids.

    Keys are drawn without repeats from ``1 .. vocab/2 - 1``, values (with repeats) from
    ``vocab/2 .. vocab - 1``; the sequence starts with the ``pairs`` pairs
    ``k_1 v_1 k_2 v_2 ...``, and every key comes back once, in random order at random
    distinct positions of the remaining ``T - 2 pairs`` steps (blanks elsewhere). On the
    step of a query key the target is its value (the next token of zoology's language
    modelling form); every other step is ignored (``-100``).
    """
    half = vocab // 2
    P, B = pairs, batch_size
    keys = torch.rand(B, half - 1, generator=generator).argsort(dim=1)[:, :P] + 1  # (B, P)
    values = torch.randint(half, vocab, (B, P), generator=generator)
    seq = torch.full((B, T), BLANK, dtype=torch.long)
    seq[:, 0 : 2 * P : 2] = keys
    seq[:, 1 : 2 * P : 2] = values
    # each key once, at random distinct steps after the context
    free = T - 2 * P
    where = torch.rand(B, free, generator=generator).topk(P, dim=1).indices + 2 * P  # (B, P)
    order = torch.rand(B, P, generator=generator).argsort(dim=1)
    query_keys, query_values = keys.gather(1, order), values.gather(1, order)
    seq.scatter_(1, where, query_keys)
    y = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    y.scatter_(1, where, query_values)
    return Batch(F.one_hot(seq, vocab).float(), y)


class MQARTask(GeneratedTask):
    """Multi-query associative recall: ``pairs`` key-value pairs, then every key again;
    on each query the model must output its value (Arora et al. 2023, "Zoology").

    The task separates fixed-size states from attention: the model must store all
    ``pairs`` associations before it knows which will be asked. ``accuracy`` is over
    the query steps; the baseline is chance among the values, ``2 / vocab``. Kind ``tag``:
    one-hot ``(B, T, vocab)`` in, ``vocab`` classes per step out.

    Notes:
        Zoology spaces the queries by a power law and uses a vocabulary of 8192; here the
        query steps are uniform over the rest of the sequence and the vocabulary is small
        (one-hot inputs), both options.
    """

    name: ClassVar[str] = "mqar"
    description: ClassVar[str] = (
        "multi-query associative recall (zoology): key-value pairs, then every key again"
    )
    defaults: ClassVar[dict[str, Any]] = dict(
        model="gru",
        hidden_size=64,
        num_layers=2,
        batch_size=64,
        steps=10000,
        lr=3e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=100,
    )
    split_sizes: ClassVar[dict[str, int]] = {"val": 256, "test": 512}

    def __init__(self, T: int = 64, pairs: int = 8, vocab: int = 64, seed: int = 0) -> None:
        check_positive("T", T)
        check_positive("pairs", pairs)
        check_positive("vocab", vocab)
        if vocab // 2 - 1 < pairs:
            raise ValueError(
                f"mqar needs vocab/2 - 1 >= pairs distinct keys, got vocab={vocab}, pairs={pairs}"
            )
        if 3 * pairs > T:
            raise ValueError(f"mqar needs T >= 3 * pairs (context and queries), got T={T}")
        self.T, self.pairs, self.vocab_size, self.seed = T, pairs, vocab, seed
        self.kind = "tag"
        self.input_size = vocab
        self.output_size = vocab
        self.main_metric = "accuracy"
        self.higher_is_better = True
        self.baseline = 2.0 / vocab

    def options(self) -> dict[str, Any]:
        return {"T": self.T, "pairs": self.pairs, "vocab": self.vocab_size}

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        return make_mqar_batch(self.T, self.pairs, self.vocab_size, batch_size, generator)
