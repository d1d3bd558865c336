"""The plain GGNN of ``ggnn_step_vs_plain`` computes the same model as rnnlab's (so the
ratio compares equal work), and the quick benchmark reports graphs/s."""

from __future__ import annotations

import torch

from rnnlab.bench import run_benchmarks
from rnnlab.bench.ggnn import PlainGGNN
from rnnlab.memory.ggnn import GGNN
from rnnlab.tasks.graphs import GraphPathTask


def test_the_plain_script_is_the_same_model() -> None:
    torch.manual_seed(0)
    batch = GraphPathTask(n_min=4, n_max=7).train_batch(0, 5)
    ours, plain = GGNN(2, 6, 7, steps=3), PlainGGNN(2, 6, 3)
    with torch.no_grad():
        plain.w_out.weight.copy_(ours.out_edges.weight)
        assert ours.in_edges is not None
        plain.w_in.weight.copy_(ours.in_edges.weight)
        plain.bias.copy_(torch.randn(6))
        ours.bias.copy_(plain.bias)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(plain.gru, name).copy_(getattr(ours.cell, name))
        plain.score.load_state_dict(ours.node_score.state_dict())
    expected = plain(batch.annotations, batch.adjacency, batch.mask)
    torch.testing.assert_close(ours(batch)[0], expected)
    assert not torch.allclose(expected, PlainGGNN(2, 6, 3)(*batch[:3]))  # the weights matter


def test_quick_ggnn_benchmark() -> None:
    (result,) = run_benchmarks(select="ggnn", repeats=1, quick=True)
    assert result.ratio > 0 and set(result.config["graphs_per_s"]) == {"rnnlab", "plain"}


def test_propagation_uses_the_messages_of_the_formula() -> None:
    """propagate's one product per step equals messages() (einsum over each edge type,
    forward and reverse), with two edge types and reverse messages on."""
    torch.manual_seed(0)
    model = GGNN(2, 5, 6, edge_types=2, steps=1)
    with torch.no_grad():
        model.bias.copy_(torch.randn(5))
    h = torch.randn(3, 6, 5)
    adjacency = (torch.rand(3, 2, 6, 6) < 0.3).float()
    adj, weight = model._edge_operands(adjacency)
    sent = torch.nn.functional.linear(h, weight).view(3, 6, 4, 5).transpose(1, 2)
    fast = torch.baddbmm(model.bias, adj, sent.reshape(3, 24, 5))
    torch.testing.assert_close(fast, model.messages(h, adjacency))
