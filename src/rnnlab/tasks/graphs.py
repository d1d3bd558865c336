"""Graph tasks generated in code (for gated graph neural networks, Li et al. 2016).

Each example is a random directed graph of ``n`` nodes (``n_min..n_max``) with two marked
nodes, a source ``s`` and a target ``t`` (node annotations ``[is s, is t]``):

* ``graph-reach``: is ``t`` reachable from ``s`` along the edges? (2 classes, balanced)
* ``graph-path``: the node that follows ``s`` on the unique shortest path from ``s`` to
  ``t`` (a path of at least 2 edges); the answer is a node (node selection).

Batches are :class:`GraphBatch`, padded to ``n_max`` nodes with a node mask. Graphs enter
through :func:`graph_batch`, which checks them: an edge to a node that does not exist is a
one-line error; a self-loop is kept (a node sends a message to itself); an isolated node is
kept (it receives nothing but the bias).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.tasks.base import GeneratedTask, batch_rows, batch_to


class GraphBatch(NamedTuple):
    """Graphs padded to ``N`` nodes.

    ``annotations (B, N, A)`` float node annotations (0 on padded nodes);
    ``adjacency (B, E, N, N)`` float, ``adjacency[b, e, v, u] = 1`` for an edge ``u -> v``
    of type ``e``; ``mask (B, N)`` bool, the real nodes; ``y (B,)`` long, the answer (a
    class, or a node for node-selection tasks).
    """

    annotations: Tensor
    adjacency: Tensor
    mask: Tensor
    y: Tensor

    def to(self, device: torch.device | str) -> GraphBatch:
        return batch_to(self, device)

    def rows(self, index: Tensor | slice) -> GraphBatch:
        return batch_rows(self, index)


@dataclass(frozen=True)
class Graph:
    """One example: ``n`` nodes, ``edges`` as ``(u, v)`` or ``(u, v, type)``, per-node
    ``annotations`` (``n`` rows), and the answer ``y``."""

    n: int
    edges: list[tuple[int, ...]]
    annotations: list[list[float]]
    y: int


def graph_batch(graphs: list[Graph], nodes: int, edge_types: int = 1) -> GraphBatch:
    """Pad and stack ``graphs`` to ``nodes`` nodes (see the module docstring for what is
    checked); errors name the graph and the edge."""
    B, A = len(graphs), len(graphs[0].annotations[0])
    annotations = torch.zeros(B, nodes, A)
    adjacency = torch.zeros(B, edge_types, nodes, nodes)
    mask = torch.zeros(B, nodes, dtype=torch.bool)
    for b, g in enumerate(graphs):
        if not 1 <= g.n <= nodes:
            raise ValueError(f"graph {b}: {g.n} nodes; expected 1..{nodes}")
        if len(g.annotations) != g.n:
            raise ValueError(f"graph {b}: {len(g.annotations)} annotation rows for {g.n} nodes")
        for k, edge in enumerate(g.edges):
            u, v, e = (*edge, 0) if len(edge) == 2 else edge
            if not (0 <= u < g.n and 0 <= v < g.n):
                raise ValueError(
                    f"graph {b}, edge {k} ({u} -> {v}): no such node; nodes are 0..{g.n - 1}"
                )
            if not 0 <= e < edge_types:
                raise ValueError(f"graph {b}, edge {k}: type {e}; expected 0..{edge_types - 1}")
            adjacency[b, e, v, u] = 1.0
        annotations[b, : g.n] = torch.tensor(g.annotations, dtype=torch.float32)
        mask[b, : g.n] = True
    y = torch.tensor([g.y for g in graphs], dtype=torch.long)
    return GraphBatch(annotations, adjacency, mask, y)


def _distances(n: int, out: list[list[int]], s: int) -> tuple[list[int], list[int]]:
    """BFS from ``s``: distance (-1: unreachable) and the number of shortest paths."""
    dist, count = [-1] * n, [0] * n
    dist[s], count[s] = 0, 1
    queue = deque([s])
    while queue:
        u = queue.popleft()
        for v in out[u]:
            if dist[v] < 0:
                dist[v] = dist[u] + 1
                queue.append(v)
            if dist[v] == dist[u] + 1:
                count[v] += count[u]
    return dist, count


def _random_graph(rng: random.Random, n_min: int, n_max: int, degree: float) -> Any:
    n = rng.randint(n_min, n_max)
    edges = set()
    for _ in range(round(degree * n)):
        u, v = rng.sample(range(n), 2)
        edges.add((u, v))
    out: list[list[int]] = [[] for _ in range(n)]
    for u, v in sorted(edges):
        out[u].append(v)
    return n, sorted(edges), out


def _marks(n: int, s: int, t: int) -> list[list[float]]:
    return [[float(v == s), float(v == t)] for v in range(n)]


class GraphClassification:
    """Loss and metrics of a task whose output is one class per graph: cross-entropy of
    ``out (B, classes)`` against ``batch.y (B,)``, and accuracy."""

    def loss(self, out: Tensor, batch: Any) -> Tensor:
        return F.cross_entropy(out, batch.y)

    def metrics(self, out: Tensor, batch: Any) -> dict[str, float]:
        with torch.no_grad():
            accuracy = float((out.argmax(-1) == batch.y).float().mean())
            return {"loss": float(self.loss(out, batch)), "accuracy": accuracy}


class _GraphTask(GraphClassification, GeneratedTask):
    main_metric, higher_is_better = "accuracy", True
    input_size = 2  # annotations: is s, is t

    def __init__(self, n_min: int = 6, n_max: int = 12, seed: int = 0) -> None:
        if not 3 <= n_min <= n_max:
            raise ValueError(f"need 3 <= n_min <= n_max nodes, got {n_min}, {n_max}")
        self.n_min, self.n_max, self.seed = n_min, n_max, seed

    def options(self) -> dict[str, Any]:
        return {"n_min": self.n_min, "n_max": self.n_max}

    def example(self, rng: random.Random) -> Graph:
        raise NotImplementedError

    def make_batch(self, batch_size: int, generator: torch.Generator) -> GraphBatch:  # type: ignore[override]
        rng = random.Random(int(torch.randint(2**62, (), generator=generator)))
        return graph_batch([self.example(rng) for _ in range(batch_size)], self.n_max)


class GraphReachTask(_GraphTask):
    """Is node t reachable from node s? (balanced classes; graph-level output)."""

    name = "graph-reach"
    description = "is t reachable from s in a random directed graph (GGNN graph-level output)"
    kind = "classify"
    output_size = 2
    baseline = 0.5
    defaults: ClassVar[dict[str, Any]] = {
        "model": "ggnn",
        "output": "graph",
        "steps": 2000,
        "lr": 3e-3,
    }

    def example(self, rng: random.Random) -> Graph:
        want = rng.random() < 0.5
        while True:
            n, edges, out = _random_graph(rng, self.n_min, self.n_max, 1.0)
            s, t = rng.sample(range(n), 2)
            reachable = _distances(n, out, s)[0][t] >= 0
            if reachable == want:
                return Graph(n, edges, _marks(n, s, t), int(reachable))


class GraphPathTask(_GraphTask):
    """The node after s on the unique shortest path from s to t (>= 2 edges; node
    selection)."""

    name = "graph-path"
    description = "next node on the unique shortest s->t path (GGNN node selection)"
    kind = "classify"
    defaults: ClassVar[dict[str, Any]] = {
        "model": "ggnn",
        "output": "node",
        "steps": 2000,
        "lr": 3e-3,
    }

    def __init__(self, n_min: int = 6, n_max: int = 12, seed: int = 0) -> None:
        super().__init__(n_min, n_max, seed)
        self.output_size = n_max
        self.baseline = None  # chance depends on the degree of s; no single figure

    def example(self, rng: random.Random) -> Graph:
        while True:
            n, edges, out = _random_graph(rng, self.n_min, self.n_max, 1.5)
            s, t = rng.sample(range(n), 2)
            dist, count = _distances(n, out, s)
            if dist[t] < 2 or count[t] != 1:
                continue
            # walk back from t along the unique shortest path to the node after s
            node = t
            while dist[node] > 1:
                node = next(u for u in range(n) if dist[u] == dist[node] - 1 and node in out[u])
            return Graph(n, edges, _marks(n, s, t), node)
