"""GGNN against PyTorch Geometric's GatedGraphConv (weights copied), against the paper's
propagation written as a loop over the edge list, the readouts, the padding, the graph
checks and the graph tasks' answers."""

from __future__ import annotations

import random

import pytest
import torch

from rnnlab.memory.edge_rnn import EdgeRNN, edge_tokens
from rnnlab.memory.ggnn import GGNN
from rnnlab.tasks.graphs import Graph, GraphPathTask, GraphReachTask, graph_batch

F64 = torch.float64
EDGES = [(0, 1), (1, 2), (2, 0), (3, 2), (1, 3), (3, 3)]  # a cycle, a self-loop; node 4 alone


def _graph(n: int = 5, edges: list[tuple[int, ...]] | None = None, a: int = 2) -> Graph:
    g = torch.Generator().manual_seed(n)
    annotations = torch.randn(n, a, generator=g).tolist()
    return Graph(n, list(EDGES if edges is None else edges), annotations, 0)


def _copy_gru(model: GGNN, gru: torch.nn.GRUCell) -> None:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(gru, name).copy_(getattr(model.cell, name))


@pytest.mark.parametrize("steps", [1, 3])
def test_propagation_equals_pyg_gated_graph_conv(steps: int) -> None:
    """One edge type, no reverse messages, no message bias: PyG's GatedGraphConv with the
    same matrix at every layer (PyG has one per layer; the paper shares it)."""
    pyg = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(0)
    model = GGNN(2, 4, 5, steps=steps, reverse=False).to(F64)
    with torch.no_grad():
        model.bias.zero_()
    conv = pyg.GatedGraphConv(4, steps).to(F64)
    with torch.no_grad():
        conv.weight.copy_(model.out_edges.weight.t().expand(steps, 4, 4))  # m_j = x_j W
    _copy_gru(model, conv.rnn)
    g = _graph()
    batch = graph_batch([g], 7)
    batch = batch._replace(annotations=batch.annotations.to(F64), adjacency=batch.adjacency.to(F64))
    ours = model.propagate(batch)[0, :5]
    edge_index = torch.tensor(g.edges).t()  # row 0 sources, row 1 targets
    theirs = conv(torch.tensor(g.annotations, dtype=F64), edge_index)
    torch.testing.assert_close(ours, theirs)


def reference(model: GGNN, g: Graph, types: list[int]) -> torch.Tensor:
    """h^K of the real nodes: the paper's propagation as a loop over the edge list."""
    D, E = model.D, model.E
    Wout = model.out_edges.weight.view(E, D, D)  # W_e^out
    Win = model.in_edges.weight.view(E, D, D) if model.in_edges is not None else None
    gru = torch.nn.GRUCell(D, D).to(F64)
    _copy_gru(model, gru)
    x = torch.tensor(g.annotations, dtype=F64)
    h = torch.cat([x, torch.zeros(g.n, D - x.shape[1], dtype=F64)], 1)
    for _ in range(model.steps):
        a = torch.stack([model.bias.clone() for _ in range(g.n)])
        for (u, v, *_), e in zip(g.edges, types, strict=True):
            a[v] = a[v] + Wout[e] @ h[u]  # along the edge
            if Win is not None:
                a[u] = a[u] + Win[e] @ h[v]  # against it
        h = gru(a, h)
    return h


def test_propagation_with_edge_types_and_reverse_edges_follows_the_equations() -> None:
    torch.manual_seed(0)
    model = GGNN(2, 5, 3, edge_types=2, steps=3, output="graph").to(F64)
    with torch.no_grad():
        model.bias.normal_()
    types = [0, 1, 1, 0, 1, 0]
    g = _graph()
    typed = Graph(
        g.n, [(u, v, e) for (u, v), e in zip(g.edges, types, strict=True)], g.annotations, 0
    )
    small = graph_batch([typed, _graph(3, [(0, 1), (1, 2)])], 5, edge_types=2)
    batch = graph_batch([typed, _graph(3, [(0, 1), (1, 2)])], 8, edge_types=2)  # more padding
    as64 = {"annotations": batch.annotations.to(F64), "adjacency": batch.adjacency.to(F64)}
    batch = batch._replace(**as64)
    small = small._replace(annotations=small.annotations.to(F64), adjacency=small.adjacency.to(F64))
    h = model.propagate(batch)
    torch.testing.assert_close(h[0, :5], reference(model, typed, types))
    assert float(h[1, 3:].detach().abs().max()) == 0  # padded nodes keep a zero state
    torch.testing.assert_close(h[:, :5], model.propagate(small))
    # the graph-level readout: tanh(sum_v sigmoid(i[h, x]) * tanh(j[h, x])), then linear
    hx = torch.cat([h[0, :5], batch.annotations[0, :5]], -1)
    h_graph = torch.tanh((torch.sigmoid(model.gate(hx)) * torch.tanh(model.value(hx))).sum(0))
    torch.testing.assert_close(model(batch)[0][0], model.head(h_graph))
    torch.testing.assert_close(model(batch)[0], model(small)[0])


def test_node_selection_gives_padded_nodes_no_probability() -> None:
    torch.manual_seed(0)
    model = GGNN(2, 4, 6, steps=2)
    batch = graph_batch([_graph(), _graph(3, [(0, 1)])], 6)
    logits, _ = model(batch)
    p = torch.softmax(logits, -1)
    assert float(p[0, 5:].detach().max()) == 0 and float(p[1, 3:].detach().max()) == 0
    torch.testing.assert_close(p.sum(-1), torch.ones(2))


def test_graphs_are_checked() -> None:
    with pytest.raises(
        ValueError, match=r"graph 1, edge 1 \(2 -> 5\): no such node; nodes are 0..4"
    ):
        graph_batch([_graph(), _graph(5, [(0, 1), (2, 5)])], 6)
    with pytest.raises(ValueError, match=r"graph 0: 7 nodes; expected 1\.\.6"):
        graph_batch([_graph(7)], 6)
    batch = graph_batch([_graph()], 5)  # a self-loop is kept, an isolated node too
    assert float(batch.adjacency[0, 0, 3, 3]) == 1 and bool(batch.mask[0, 4])
    assert float(batch.adjacency[0, 0, 4].sum() + batch.adjacency[0, 0, :, 4].sum()) == 0
    with pytest.raises(TypeError, match="ggnn reads batches with annotations"):
        GGNN(2, 4, 3)(torch.zeros(2, 3))


def _shortest(n: int, edges: list[tuple[int, ...]]) -> list[list[float]]:
    """All-pairs shortest path lengths (Floyd-Warshall)."""
    inf = float("inf")
    d = [[0.0 if i == j else inf for j in range(n)] for i in range(n)]
    for u, v, *_ in edges:
        d[u][v] = min(d[u][v], 1.0)
    for k in range(n):
        for i in range(n):
            for j in range(n):
                d[i][j] = min(d[i][j], d[i][k] + d[k][j])
    return d


def test_the_graph_tasks_answer_correctly() -> None:
    rng = random.Random(0)
    path = GraphPathTask()
    for _ in range(30):
        g = path.example(rng)
        s = next(v for v in range(g.n) if g.annotations[v][0])
        t = next(v for v in range(g.n) if g.annotations[v][1])
        d = _shortest(g.n, g.edges)
        assert d[s][t] >= 2 and d[s][t] < float("inf")
        # the answer is the one out-neighbour of s on a shortest path to t
        on_path = [v for u, v in g.edges if u == s and d[v][t] == d[s][t] - 1]
        assert on_path == [g.y]
    reach = GraphReachTask()
    answers = []
    for _ in range(40):
        g = reach.example(rng)
        s = next(v for v in range(g.n) if g.annotations[v][0])
        t = next(v for v in range(g.n) if g.annotations[v][1])
        assert g.y == int(_shortest(g.n, g.edges)[s][t] < float("inf"))
        answers.append(g.y)
    assert 0.25 < sum(answers) / len(answers) < 0.75


def test_the_edge_list_baseline_reads_edges_then_the_marked_nodes() -> None:
    g = Graph(3, [(0, 1), (2, 1), (1, 2)], [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]], 0)
    batch = graph_batch([g], 3)
    tokens, lengths = edge_tokens(batch.adjacency, batch.annotations, 8)
    n0, edge = 2, 2 + 8  # node v is 2 + v; the edge markers follow the max_nodes node ids
    # by target, then source: 0->1, 2->1, 1->2; then QUERY (1), s = 0, t = 2
    assert tokens.tolist() == [
        [n0, n0 + 1, edge, n0 + 2, n0 + 1, edge, n0 + 1, n0 + 2, edge, 1, n0, n0 + 2]
    ]
    assert lengths.tolist() == [12]
    torch.manual_seed(0)
    model = EdgeRNN(4, max_nodes=8, hidden_size=6, embedding_size=4).eval()
    batch = graph_batch([_graph(), _graph(3, [(0, 1)])], 6)
    out, _ = model(batch)
    torch.testing.assert_close(model(graph_batch([_graph(3, [(0, 1)])], 8))[0][0], out[1])
