"""Build a model for a task from a frozen :class:`ModelConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from rnnlab.layers.build import build_layers
from rnnlab.models.sequence import Seq2Vec, Tagger


@dataclass(frozen=True)
class ModelConfig:
    """The layer stack and head of a seq->vec or tagging model.

    Attributes:
        cell: a registered cell name (``rnnlab list`` shows them).
        hidden_size: units per direction and layer.
        num_layers: stacked layers.
        bidirectional: read each layer in both directions.
        dropout: dropout between stacked layers.
        residual: residual connections between stacked layers of equal width.
        fast: allow PyTorch's fused kernels for plain LSTM/GRU/Elman unrolls.
        chrono_delay: when set, cells with a ``chrono_init_`` method (LSTM, GRU) get chrono
            initialisation for dependencies up to this many steps (Tallec & Ollivier 2018);
            other cells keep their initialisation.
    """

    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    residual: bool = False
    fast: bool = True
    chrono_delay: int | None = None


def build_model(config: ModelConfig, kind: str, input_size: int, output_size: int) -> nn.Module:
    """A :class:`Seq2Vec` (``kind`` classify/regress) or :class:`Tagger` (``kind`` tag)."""
    layers = build_layers(
        config.cell,
        input_size,
        config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        dropout=config.dropout,
        residual=config.residual,
        fast=config.fast,
    )
    if config.chrono_delay is not None:
        for module in layers.modules():
            init = getattr(module, "chrono_init_", None)
            if callable(init):
                init(config.chrono_delay)
    if kind in ("classify", "regress"):
        return Seq2Vec(layers, output_size)
    if kind == "tag":
        return Tagger(layers, output_size)
    raise ValueError(f"unknown task kind {kind!r}; expected classify, regress or tag")
