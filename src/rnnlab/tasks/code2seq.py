r"""vec->seq from a code: spell a random binary code as a sequence of symbols.

The condition is a code :math:`b \in \{0, 1\}^K` (``K`` = 16 bits, uniform), given to the
model as a real vector. The target spells it with a fixed, deterministic mapping: the
bits are read in a fixed random order :math:`\pi` (drawn once from ``code_seed``) and
grouped ``m`` = 2 at a time into base-4 digits,

.. math::
    x_t = \sum_{i=0}^{m-1} 2^i\, b_{\pi(m t + i)}, \qquad t = 0 .. K/m - 1

so the sequence has ``K / m`` = 8 symbols of ``V = 2^m`` = 4. The generator must hold the
whole code in its state (it enters through the initial state, and at every step with
``feed_condition``) and emit it in the scrambled order.

Metrics: ``bpc`` (bits per symbol, main metric; a perfect model reaches 0) and ``exact``,
the fraction of codes whose greedy decoding is the whole correct sequence. Baseline:
``m`` = 2 bits per symbol, exactly what any model that ignores the code must pay, since each
symbol is uniform over its ``V`` values.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from rnnlab.tasks.base import Batch, GeneratedTask, GenerateFn

CODE_BITS = 16
BITS_PER_SYMBOL = 2


class CodeSpelling:
    """The fixed mapping from codes to sequences.

    Args:
        bits: K, the code length (a multiple of ``bits_per_symbol``).
        bits_per_symbol: m; the alphabet has ``2 ** m`` symbols.
        seed: fixes the reading order of the bits.
    """

    def __init__(
        self, bits: int = CODE_BITS, bits_per_symbol: int = BITS_PER_SYMBOL, seed: int = 0
    ) -> None:
        if bits_per_symbol < 1 or bits < 1 or bits % bits_per_symbol:
            raise ValueError(
                f"bits ({bits}) must be a positive multiple of bits_per_symbol ({bits_per_symbol})"
            )
        self.bits = bits
        self.bits_per_symbol = bits_per_symbol
        self.length = bits // bits_per_symbol
        self.symbols = 2**bits_per_symbol
        order = np.random.default_rng(seed).permutation(bits)
        self.order = torch.from_numpy(order).long()  # (K,): pi

    def spell(self, codes: Tensor) -> Tensor:
        """``codes (B, K)`` of 0/1 -> symbols ``(B, K / m)`` long."""
        codes = torch.as_tensor(codes)
        if codes.dim() != 2 or codes.shape[1] != self.bits:
            raise ValueError(f"codes must have shape (B, {self.bits}), got {tuple(codes.shape)}")
        if bool(((codes != 0) & (codes != 1)).any()):
            raise ValueError("codes must hold only 0 and 1")
        read = codes.long()[:, self.order].view(-1, self.length, self.bits_per_symbol)
        weights = 2 ** torch.arange(self.bits_per_symbol)  # (m,): 1, 2, 4, ...
        return (read * weights).sum(-1)  # (B, K / m)


class Code2SeqTask(GeneratedTask):
    """Spell a random 16-bit code as 8 base-4 symbols (vec->seq from a code).

    ``x (B, 16)`` float 0/1 codes, ``y (B, 8)`` long symbols; fresh codes for every
    training batch, ``val``/``test`` 1000 codes each. See the module docstring.
    """

    name: ClassVar[str] = "code2seq"
    description: ClassVar[str] = (
        "vec->seq: spell a random 16-bit code as 8 symbols (fixed scrambled order); "
        "bits per symbol and exact greedy sequences"
    )
    defaults: ClassVar[dict[str, Any]] = dict(
        model="gru",
        hidden_size=64,
        batch_size=64,
        steps=1000,
        lr=3e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=250,
        feed_condition=True,
    )

    def __init__(self, seed: int = 0, code_seed: int = 0) -> None:
        self.seed = seed
        self.spelling = CodeSpelling(seed=code_seed)
        self.kind = "vec2seq"
        self.input_size = self.spelling.bits
        self.output_size = self.spelling.symbols
        self.main_metric = "bpc"
        self.higher_is_better = False
        self.baseline = float(self.spelling.bits_per_symbol)
        self.metadata: dict[str, Any] = {
            "generation": {
                "condition": "vector",
                "size": self.spelling.bits,
                "length": self.spelling.length,
            }
        }

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        codes = torch.randint(2, (batch_size, self.spelling.bits), generator=generator)
        return Batch(codes.float(), self.spelling.spell(codes))

    def model_metrics(self, generate: GenerateFn, split: str, device: str) -> dict[str, float]:
        data = self.split(split)
        decoded = generate(data.x.to(device), self.spelling.length, greedy=True)
        return {"exact": float((decoded.cpu() == data.y).all(-1).double().mean())}
