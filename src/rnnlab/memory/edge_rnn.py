r"""The recurrent baseline of graph networks, model family ``edge_rnn``: a registered cell
(an LSTM by default) reads a graph's edge list as one token sequence, then the marked
nodes, and answers from its last state (the sequence baselines of Li et al. 2016).

Tokens: node ``v`` is ``2 + v``; each edge ``u -> v`` of type ``e`` is ``u, v`` followed by
``2 + max_nodes + e``; then ``QUERY`` and the nodes whose annotations are set, annotation by
annotation (for the graph tasks: ``s``, then ``t``). Edges come in the order of the
adjacency (by target, then source).

.. math::
    h_t = F(h_{t-1}, E w_t); \qquad o = W h_N + b
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._config import option
from rnnlab.layers.build import build_layers
from rnnlab.models.registry import register_model
from rnnlab.tasks.spec import TaskSpec

PAD, QUERY, NODE0 = 0, 1, 2


def edge_tokens(adjacency: Tensor, annotations: Tensor, max_nodes: int) -> tuple[Tensor, Tensor]:
    """``(B, L)`` token ids and ``(B,)`` lengths of graphs ``adjacency (B, E, N, N)`` with
    ``annotations (B, N, A)`` (see the module docstring), node ids below ``max_nodes``."""
    B = adjacency.shape[0]
    edge0 = NODE0 + max_nodes  # edge-type tokens follow the node tokens, whatever the padding
    rows: list[list[int]] = []
    for b in range(B):
        tokens: list[int] = []
        for e, v, u in adjacency[b].nonzero().tolist():  # adjacency[b, e, v, u]: u -> v
            tokens += [NODE0 + u, NODE0 + v, edge0 + e]
        tokens.append(QUERY)
        for a in range(annotations.shape[2]):
            tokens += [NODE0 + int(v) for v in annotations[b, :, a].nonzero().flatten()]
        rows.append(tokens)
    lengths = torch.tensor([len(r) for r in rows])
    out = torch.full((B, int(lengths.max())), PAD, dtype=torch.long)
    for b, r in enumerate(rows):
        out[b, : len(r)] = torch.tensor(r)
    return out.to(adjacency.device), lengths.to(adjacency.device)


class EdgeRNN(nn.Module):
    """Embedding, a recurrent layer stack over the edge list, a linear head."""

    causal = False

    def __init__(
        self,
        outputs: int,
        max_nodes: int,
        edge_types: int = 1,
        cell: str = "lstm",
        hidden_size: int = 128,
        embedding_size: int = 32,
    ) -> None:
        super().__init__()
        self.max_nodes = max_nodes
        self.embedding = nn.Embedding(NODE0 + max_nodes + edge_types, embedding_size)
        self.layers = build_layers(cell, embedding_size, hidden_size)
        self.head = nn.Linear(hidden_size, outputs)

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        if not all(hasattr(batch, f) for f in ("adjacency", "annotations")):
            raise TypeError(
                "edge_rnn reads batches with adjacency and annotations (tasks graph-reach, "
                f"graph-path), got {type(batch).__name__}"
            )
        if batch.adjacency.shape[-1] > self.max_nodes:
            raise ValueError(
                f"graphs of {batch.adjacency.shape[-1]} nodes; this model reads {self.max_nodes}"
            )
        tokens, lengths = edge_tokens(batch.adjacency, batch.annotations, self.max_nodes)
        y, _ = self.layers(self.embedding(tokens), None, lengths)
        return self.head(self.layers.summary(y, lengths)), None


@dataclass(frozen=True)
class EdgeRNNConfig:
    """Options of the ``edge_rnn`` family (see :class:`EdgeRNN`)."""

    cell: str = option("lstm", flag="cell", help="the registered cell reading the edges")
    hidden_size: int = option(128, flag="hidden", help="hidden units")
    embedding_size: int = option(32, flag="embedding", help="token embedding width")
    max_nodes: int = option(32, flag="max-nodes", help="node ids the embedding holds")
    edge_types: int = option(1, flag="edge-types", help="edge types E")

    @property
    def name(self) -> str:
        return f"edge_rnn-{self.cell}"


def build_edge_rnn(config: EdgeRNNConfig, spec: TaskSpec) -> EdgeRNN:
    if spec.kind != "classify":
        raise ValueError(f"edge_rnn answers about graphs (task kind classify), not {spec.kind!r}")
    return EdgeRNN(
        spec.output_size,
        config.max_nodes,
        edge_types=config.edge_types,
        cell=config.cell,
        hidden_size=config.hidden_size,
        embedding_size=config.embedding_size,
    )


register_model(
    "edge_rnn",
    "a recurrent net over a graph's edge list as one token sequence (tasks graph-reach, "
    "graph-path)",
    EdgeRNNConfig,
    build_edge_rnn,
)
