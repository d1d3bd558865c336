"""Multi-query associative recall (MQAR; Arora et al. 2023, the zoology benchmark)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from rnnlab._checks import check_positive
from rnnlab.tasks.base import IGNORE_INDEX, Batch, GeneratedTask

BLANK = 0  # filler between the queries


def make_mqar_batch(
    T: int,
    pairs: int,
    vocab: int,
    batch_size: int,
    generator: torch.Generator,
    power_a: float = 0.01,
    random_fill: bool = False,
) -> Batch:
    """One batch of MQAR as zoology's ``multiquery_ar`` builds it, one-hot over ``vocab``.

    Keys are drawn without repeats from ``1 .. vocab/2 - 1``, values without repeats from
    ``vocab/2 .. vocab - 1``; the sequence starts with the ``pairs`` pairs
    ``k_1 v_1 k_2 v_2 ...`` (the context, ``C = 2 pairs`` steps). Each key comes back
    once, the i-th key at step ``C + 2 g_i``, the gaps ``g_i`` distinct in
    ``0 .. (T - C)/2 - 1`` and drawn with probability ``p(g) ~ a (g + 1)^(a - 1)``
    (``a = power_a``: 0.01 in zoology, near queries likely; 1 is uniform). On the step
    of a query key the target is its value (zoology's labels after their shift by one);
    every other step is ignored (``-100``). The other steps hold the blank 0, or with
    ``random_fill`` a token drawn from the whole vocabulary (zoology's
    ``random_non_queries``).
    """
    half = vocab // 2
    P, B, C = pairs, batch_size, 2 * pairs
    keys = torch.rand(B, half - 1, generator=generator).argsort(dim=1)[:, :P] + 1  # (B, P)
    values = torch.rand(B, vocab - half, generator=generator).argsort(dim=1)[:, :P] + half
    seq = torch.full((B, T), BLANK, dtype=torch.long)
    seq[:, 0:C:2] = keys
    seq[:, 1:C:2] = values
    space = (T - C) // 2
    weight = power_a * torch.arange(1, space + 1, dtype=torch.float64) ** (power_a - 1)
    gaps = torch.multinomial(weight.expand(B, space), P, replacement=False, generator=generator)
    where = C + 2 * gaps  # (B, P): the i-th key is asked at where[:, i]
    if random_fill:
        noise = torch.randint(0, vocab, (B, T), generator=generator)
        seq = torch.where(seq == BLANK, noise, seq)
    seq.scatter_(1, where, keys)
    y = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    y.scatter_(1, where, values)
    return Batch(F.one_hot(seq, vocab).float(), y)


class MQARTask(GeneratedTask):
    """Multi-query associative recall: ``pairs`` key-value pairs, then every key again;
    on each query the model must output its value (Arora et al. 2023, "Zoology").

    The task separates fixed-size states from attention: the model must store all
    ``pairs`` associations before it knows which will be asked. ``accuracy`` is over
    the query steps; the baseline is chance among the values, ``2 / vocab``. Kind ``tag``:
    one-hot ``(B, T, vocab)`` in, ``vocab`` classes per step out.

    Options: ``T``, ``pairs``, ``vocab``; ``power_a`` (the power law of the query gaps,
    zoology's 0.01; 1.0 spaces them uniformly) and ``random_fill`` (random tokens instead
    of blanks between the queries, zoology's ``random_non_queries``).

    Notes:
        Zoology uses a vocabulary of 8192 and token embeddings; here the inputs are
        one-hot over a small vocabulary. Its generator fills with random tokens by
        default; here the blank 0 is the default (the form its docstring prints), so the
        only writes a state sees are the pairs and the queries. A model that only learns
        which tokens are values scores about ``1 / pairs`` by picking one from the
        context; recall is accuracy well above that.
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

    def __init__(
        self,
        T: int = 64,
        pairs: int = 8,
        vocab: int = 64,
        power_a: float = 0.01,
        random_fill: bool = False,
        seed: int = 0,
    ) -> None:
        check_positive("T", T)
        check_positive("pairs", pairs)
        check_positive("vocab", vocab)
        if not (isinstance(power_a, (int, float)) and 0 < power_a <= 1):
            raise ValueError(f"mqar power_a must be in (0, 1], got {power_a!r}")
        if not isinstance(random_fill, bool):
            raise ValueError(f"mqar random_fill must be true or false, got {random_fill!r}")
        if vocab // 2 - 1 < pairs:
            raise ValueError(
                f"mqar needs vocab/2 - 1 >= pairs distinct keys, got vocab={vocab}, pairs={pairs}"
            )
        if 4 * pairs > T:
            raise ValueError(
                f"mqar needs T >= 4 * pairs (context, then queries on every other step), "
                f"got T={T}, pairs={pairs}"
            )
        self.T, self.pairs, self.vocab_size, self.seed = T, pairs, vocab, seed
        self.power_a, self.random_fill = float(power_a), random_fill
        self.kind = "tag"
        self.input_size = vocab
        self.output_size = vocab
        self.main_metric = "accuracy"
        self.higher_is_better = True
        self.baseline = 2.0 / vocab

    def options(self) -> dict[str, Any]:
        return {
            "T": self.T,
            "pairs": self.pairs,
            "vocab": self.vocab_size,
            "power_a": self.power_a,
            "random_fill": self.random_fill,
        }

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        return make_mqar_batch(
            self.T,
            self.pairs,
            self.vocab_size,
            batch_size,
            generator,
            power_a=self.power_a,
            random_fill=self.random_fill,
        )
