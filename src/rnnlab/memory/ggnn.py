r"""Gated graph neural networks (Li, Tarlow, Brockschmidt & Zemel 2016), model family
``ggnn``: node states updated ``K`` times by a registered recurrent cell (GRU by default)
from messages along typed edges, read out per node or per graph.

.. math::
    h_v^{(1)} = [x_v, 0], \qquad
    a_v^{(t)} = \sum_{e} \Big( \sum_{u \to_e v} W_e^{\text{out}} h_u^{(t-1)}
        + \sum_{v \to_e u} W_e^{\text{in}} h_u^{(t-1)} \Big) + b, \qquad
    h_v^{(t)} = \mathrm{GRU}(a_v^{(t)}, h_v^{(t-1)})

Node selection: :math:`o_v = g([h_v^{(K)}, x_v])` (an MLP), a softmax over the graph's
nodes. Graph level: :math:`h_G = \tanh\big(\sum_v \sigma(i([h_v^{(K)}, x_v])) \odot
\tanh(j([h_v^{(K)}, x_v]))\big)`, then a linear map to the classes.

Reads :class:`~rnnlab.tasks.graphs.GraphBatch`; padded nodes send and receive nothing,
keep a zero state, and get no probability.

Notes:
    The weights are shared across the ``K`` steps, as in the paper (PyTorch Geometric's
    ``GatedGraphConv`` has one matrix per step, no edge types and no reverse edges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._config import option
from rnnlab.cells.registry import make_cell
from rnnlab.models.registry import register_model
from rnnlab.tasks.spec import TaskSpec

OUTPUTS = ("node", "graph")


class GGNN(nn.Module):
    """A gated graph neural network (see the module docstring).

    Args:
        annotation_size: ``A``, the node annotations' width (the first ``A`` dims of h).
        hidden_size: ``D`` >= ``A``.
        outputs: classes of the graph-level output; for node selection, the padded node
            count (the logits' width).
        edge_types: ``E``.
        steps: propagation steps ``K``.
        output: ``node`` (node selection) or ``graph`` (graph-level classes).
        cell: the registered cell of the node update (its state must have ``h``).
        reverse: send messages against the edges too (:math:`W^{\\text{in}}`).
    """

    causal = False

    def __init__(
        self,
        annotation_size: int,
        hidden_size: int,
        outputs: int,
        edge_types: int = 1,
        steps: int = 5,
        output: str = "node",
        cell: str = "gru",
        reverse: bool = True,
    ) -> None:
        super().__init__()
        if hidden_size < annotation_size:
            raise ValueError(
                f"hidden_size {hidden_size} must be >= the annotations' {annotation_size}"
            )
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; expected node or graph")
        if steps < 1 or edge_types < 1:
            raise ValueError(f"steps and edge_types must be >= 1, got {steps}, {edge_types}")
        D, E, A = hidden_size, edge_types, annotation_size
        self.D, self.E, self.A, self.steps, self.output = D, E, A, steps, output
        self.out_edges = nn.Linear(D, E * D, bias=False)  # W_e^out, e = 0..E-1
        self.in_edges = nn.Linear(D, E * D, bias=False) if reverse else None  # W_e^in
        self.bias = nn.Parameter(torch.zeros(D))
        self.cell = make_cell(cell, D, D)
        if output == "node":
            self.node_score = nn.Sequential(nn.Linear(D + A, D), nn.Tanh(), nn.Linear(D, 1))
        else:
            self.gate = nn.Linear(D + A, D)  # i
            self.value = nn.Linear(D + A, D)  # j
            self.head = nn.Linear(D, outputs)
        self.outputs = outputs

    def messages(self, h: Tensor, adjacency: Tensor) -> Tensor:
        """``a (B, N, D)`` from states ``h (B, N, D)`` and ``adjacency (B, E, N, N)``."""
        B, N, D = h.shape
        sent = self.out_edges(h).view(B, N, self.E, D)  # W_e^out h_u: (B, N_u, E, D)
        # a_v += sum_{u ->_e v} W_e^out h_u   (adjacency[b, e, v, u] = 1 for u -> v)
        a = torch.einsum("bevu,bued->bvd", adjacency, sent)
        if self.in_edges is not None:
            back = self.in_edges(h).view(B, N, self.E, D)
            # a_v += sum_{v ->_e u} W_e^in h_u
            a = a + torch.einsum("beuv,bued->bvd", adjacency, back)
        return a + self.bias

    def _edge_operands(self, adjacency: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`messages` as one batched product per step, ``a = adj @ sent + b``: the
        forward and reverse adjacency of every type side by side, ``(B, N, 2EN)`` (or
        ``EN`` without reverse messages), and the weights ``W_e^out``, ``W_e^in`` stacked,
        ``(2ED, D)``; built once per forward."""
        B, N = adjacency.shape[0], adjacency.shape[-1]
        adj, weight = adjacency, self.out_edges.weight
        if self.in_edges is not None:
            adj = torch.cat([adjacency, adjacency.transpose(-1, -2)], 1)  # (B, 2E, N, N)
            weight = torch.cat([weight, self.in_edges.weight], 0)
        # adj[b, v, (k, u)]: the edge u -> v of block k (a type, forward or reverse)
        return adj.permute(0, 2, 1, 3).reshape(B, N, -1), weight

    def propagate(self, batch: Any) -> Tensor:
        """The node states after ``K`` steps, ``(B, N, D)`` (zero on padded nodes)."""
        if not all(hasattr(batch, f) for f in ("annotations", "adjacency", "mask")):
            raise TypeError(
                "ggnn reads batches with annotations, adjacency and mask (tasks graph-reach, "
                f"graph-path), got {type(batch).__name__}"
            )
        x = batch.annotations  # (B, N, A)
        mask = batch.mask.unsqueeze(-1).to(x.dtype)  # (B, N, 1)
        B, N, A = x.shape
        if A != self.A:
            raise ValueError(f"annotations of width {A}; this GGNN reads {self.A}")
        h = torch.nn.functional.pad(x, (0, self.D - A)) * mask  # h^1 = [x_v, 0]
        state = self.cell.initial_state(B * N, device=h.device, dtype=h.dtype)
        adj, weight = self._edge_operands(batch.adjacency)
        blocks = weight.shape[0] // self.D
        for _ in range(self.steps):
            # messages(h, adjacency), as one product: sent[b, (k, u)] = W_k h_u
            sent = torch.nn.functional.linear(h, weight).view(B, N, blocks, self.D)
            sent = sent.transpose(1, 2).reshape(B, blocks * N, self.D)
            a = torch.baddbmm(self.bias, adj, sent) * mask
            state = state._replace(h=h.reshape(B * N, self.D))
            new, state = self.cell.step(self.cell.project_input(a.reshape(B * N, self.D)), state)
            h = new.view(B, N, self.D) * mask  # padded nodes stay at zero
        return h

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        """Node-selection logits ``(B, N)`` (padded nodes at the lowest value), or graph
        class logits ``(B, C)``."""
        h = self.propagate(batch)
        hx = torch.cat([h, batch.annotations], -1)  # [h_v^K, x_v]
        if self.output == "node":
            scores = self.node_score(hx).squeeze(-1)  # (B, N)
            return scores.masked_fill(~batch.mask, torch.finfo(scores.dtype).min), None
        gated = torch.sigmoid(self.gate(hx)) * torch.tanh(self.value(hx))  # (B, N, D)
        h_graph = torch.tanh((gated * batch.mask.unsqueeze(-1)).sum(1))
        return self.head(h_graph), None


@dataclass(frozen=True)
class GGNNConfig:
    """Options of the ``ggnn`` family (see :class:`GGNN`)."""

    hidden_size: int = option(32, flag="hidden", help="node state width D")
    prop_steps: int = option(8, flag="prop-steps", help="propagation steps K")
    output: str = option(
        "node", flag="output", help="node selection or graph level", choices=OUTPUTS
    )
    cell: str = option("gru", flag="cell", help="the registered cell of the node update")
    edge_types: int = option(1, flag="edge-types", help="edge types E")

    @property
    def name(self) -> str:
        return "ggnn"


def build_ggnn(config: GGNNConfig, spec: TaskSpec) -> GGNN:
    if spec.kind != "classify":
        raise ValueError(f"ggnn answers about graphs (task kind classify), not {spec.kind!r}")
    return GGNN(
        spec.input_size,
        max(config.hidden_size, spec.input_size),
        spec.output_size,
        edge_types=config.edge_types,
        steps=config.prop_steps,
        output=config.output,
        cell=config.cell,
    )


register_model(
    "ggnn",
    "gated graph neural network: a cell updates node states from typed edge messages "
    "(Li et al. 2016; tasks graph-reach, graph-path)",
    GGNNConfig,
    build_ggnn,
)
