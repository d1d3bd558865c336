r"""The ``bag`` model family: a bag-of-embeddings classifier, the order-blind baseline.

.. math::
    e_t = W_e x_t + b_e, \quad \bar e = \frac{1}{L} \sum_{t \le L} e_t, \quad
    o = W_2 \, \mathrm{relu}(W_1 \bar e + b_1) + b_2

Every step is embedded on its own and the embeddings are averaged over the real steps
(``lengths``), so the model cannot see order: a task it solves needs no memory of
sequence, and the gap to a recurrent model on the same task measures what order adds.
It is also the worked example of ARCHITECTURE.md's "to add a model family": this file
and one import in ``models/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab._config import option
from rnnlab.models.registry import register_model
from rnnlab.tasks.spec import TaskSpec


@dataclass(frozen=True)
class BagConfig:
    """Options of the bag-of-embeddings classifier.

    Attributes:
        hidden_size: width of the embeddings and of the MLP's hidden layer.
        dropout: dropout on the mean embedding.
    """

    hidden_size: int = option(128, flag="hidden", help="embedding and MLP width")
    dropout: float = option(0.0, flag="dropout", help="dropout on the mean embedding", type=float)

    def __post_init__(self) -> None:
        check_positive("hidden_size", self.hidden_size)
        check_unit_interval("dropout", self.dropout)

    @property
    def name(self) -> str:
        return "bag"


class BagOfEmbeddings(nn.Module):
    """Mean of per-step embeddings, then an MLP.

    Shapes: ``batch.x (B, T, D)`` float, optional ``batch.lengths (B,)`` ->
    ``(B, output_size)``.
    """

    causal = False  # the mean reads every step

    def __init__(self, input_size: int, output_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.embed = nn.Linear(input_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, output_size)
        )
        self.input_size = input_size
        self.output_size = output_size

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        x = batch.x  # (B, T, D)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"bag-of-embeddings input must have shape (B, T, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        e = self.embed(x)  # (B, T, H)
        lengths = getattr(batch, "lengths", None)
        if lengths is None:
            mean = e.mean(1)  # (B, H)
        else:
            real = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]
            e = e.masked_fill(~real.unsqueeze(-1), 0.0)
            mean = e.sum(1) / lengths.to(e.device).clamp(min=1).unsqueeze(-1).to(e.dtype)
        return self.mlp(self.dropout(mean)), None


def build_bag(config: BagConfig, spec: TaskSpec) -> nn.Module:
    if spec.kind not in ("classify", "regress"):
        raise ValueError(
            f"model family 'bag' serves seq->vec tasks (classify, regress), not {spec.kind!r}"
        )
    return BagOfEmbeddings(spec.input_size, spec.output_size, config.hidden_size, config.dropout)


register_model(
    "bag",
    "bag of embeddings: the mean of per-step embeddings and an MLP (an order-blind baseline)",
    BagConfig,
    build_bag,
)
