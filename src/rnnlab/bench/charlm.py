"""``charlm_step_vs_plain``: one training step of rnnlab's character language model against
a plain PyTorch script's at the same size (2x256 LSTM, batch 32, T=128, AdamW 3e-3; an
``nn.Embedding``, one two-layer ``nn.LSTM`` and an ``nn.Linear``, written here). Both take
a step on the same batch: embedding, LSTM, output layer, cross-entropy, backward, AdamW.
The library must not be slower than the script at equal size (ratio <= 1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab.bench.timing import BenchResult, compare, lm_train_step, timing_config

CHARLM_BENCH = "charlm_step_vs_plain"
CHARLM_SIZES: dict[str, int] = {"V": 65, "B": 32, "T": 128, "H": 256, "layers": 2}
CHARLM_QUICK_SIZES: dict[str, int] = {"V": 11, "B": 2, "T": 8, "H": 8, "layers": 2}


class PlainCharLM(nn.Module):
    """The plain script's model: embedding, a multi-layer ``nn.LSTM``, a linear head."""

    def __init__(self, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.lstm(self.embedding(x))
        return self.head(y)  # (B, T, V)


def run_charlm_step(quick: bool, repeats: int) -> BenchResult:
    from rnnlab.models import RNNConfig, build_model
    from rnnlab.tasks.base import Batch
    from rnnlab.tasks.spec import TaskSpec

    sizes = CHARLM_QUICK_SIZES if quick else CHARLM_SIZES
    V, B, T, H, L = (sizes[k] for k in ("V", "B", "T", "H", "layers"))
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(V, (B, T), generator=generator)
    y = torch.randint(V, (B, T), generator=generator)
    config = RNNConfig(cell="lstm", hidden_size=H, num_layers=L)
    ours = build_model(config, TaskSpec("lm", V, V))
    plain = PlainCharLM(V, H, L)
    batch = Batch(x, y)

    def step(model: nn.Module, forward: Callable[[], Tensor]) -> Callable[[], None]:
        return lm_train_step(model, forward, y, lr=3e-3)

    num_s, den_s = compare(
        step(ours, lambda: ours(batch)[0]),
        step(plain, lambda: plain(x)),
        repeats,
    )
    config_record = timing_config(sizes, repeats)
    config_record["pass"] = "forward+backward+AdamW"
    return BenchResult(
        name=CHARLM_BENCH,
        ratio=num_s / den_s,
        numerator=f"rnnlab LanguageModel(lstm, {L}x{H}) training step",
        denominator=f"plain nn.Embedding + nn.LSTM({H}, {L} layers) + nn.Linear step",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config_record,
    )
