"""The plain MemN2N of ``memn2n_step_vs_plain`` computes the same model as rnnlab's (so the
ratio compares equal work), and the quick benchmark reports stories/s."""

from __future__ import annotations

import torch

from rnnlab.bench import run_benchmarks
from rnnlab.bench.memn2n import PlainMemN2N
from rnnlab.memory.memn2n import MemN2N
from rnnlab.tasks.babi import BabiBatch


def test_the_plain_script_is_the_same_model() -> None:
    torch.manual_seed(0)
    ours, plain = MemN2N(12, 3, 6, 2, memory_size=8).eval(), PlainMemN2N(12, 3, 6, 2, 8)
    with torch.no_grad():
        for k in range(3):
            ours.embeddings[k].weight.copy_(plain.E[k])  # type: ignore[operator]
            ours.times[k].copy_(plain.T[k])
    story = torch.tensor([[[3, 4, 0], [5, 6, 7]], [[8, 0, 0], [0, 0, 0]]])
    query = torch.tensor([[9, 10], [11, 0]])
    lengths = torch.tensor([2, 1])
    z = torch.zeros(2, dtype=torch.long)
    batch = BabiBatch(story, query, z, lengths, torch.zeros(2, 2, dtype=torch.bool), z)
    torch.testing.assert_close(ours(batch)[0], plain(story, query, lengths))


def test_quick_memn2n_benchmark() -> None:
    (result,) = run_benchmarks(select="memn2n", repeats=1, quick=True)
    assert result.ratio > 0 and set(result.config["stories_per_s"]) == {"rnnlab", "plain"}
