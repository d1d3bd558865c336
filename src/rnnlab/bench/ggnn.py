"""``ggnn_step_vs_plain``: training steps of rnnlab's GGNN against a plain single-file
implementation of the same model written here (GRU node update, forward and reverse edge
weights, one edge type, node-selection output; D = 32, K = 8 propagation steps), on the
``graph-path`` task's batches (64 graphs padded to 12 nodes). Each timed run is 20 Adam
steps (cross-entropy over the nodes); the figure in graphs/s is ``20 * B / seconds``. The
library must not be slower than the script (ratio <= 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.bench.timing import BenchResult, compare, optimizer_steps, timing_config

GGNN_BENCH = "ggnn_step_vs_plain"
GGNN_SIZES: dict[str, int] = {"B": 64, "N": 12, "D": 32, "K": 8}
GGNN_QUICK_SIZES: dict[str, int] = {"B": 4, "N": 6, "D": 4, "K": 2}
STEPS = 20  # Adam steps per timed run


class PlainGGNN(nn.Module):
    """The script's model: h^1 = [x, 0]; a = A h W_out^T + A^T h W_in^T + b;
    h = GRUCell(a, h); node scores from an MLP of [h, x], padded nodes masked."""

    def __init__(self, A: int, D: int, K: int) -> None:
        super().__init__()
        self.A, self.D, self.K = A, D, K
        self.w_out = nn.Linear(D, D, bias=False)
        self.w_in = nn.Linear(D, D, bias=False)
        self.bias = nn.Parameter(torch.zeros(D))
        self.gru = nn.GRUCell(D, D)
        self.score = nn.Sequential(nn.Linear(D + A, D), nn.Tanh(), nn.Linear(D, 1))

    def forward(self, x: Tensor, adjacency: Tensor, mask: Tensor) -> Tensor:
        B, N, _ = x.shape
        m = mask.unsqueeze(-1).to(x.dtype)
        adj = adjacency[:, 0]  # (B, N, N): adj[b, v, u] = 1 for u -> v
        h = F.pad(x, (0, self.D - self.A)) * m
        for _ in range(self.K):
            a = adj @ self.w_out(h) + adj.transpose(1, 2) @ self.w_in(h) + self.bias
            h = self.gru((a * m).reshape(B * N, self.D), h.reshape(B * N, self.D))
            h = h.view(B, N, self.D) * m
        scores = self.score(torch.cat([h, x], -1)).squeeze(-1)
        return scores.masked_fill(~mask, torch.finfo(scores.dtype).min)


def run_ggnn_step(quick: bool, repeats: int) -> BenchResult:
    from rnnlab.memory.ggnn import GGNN
    from rnnlab.tasks.graphs import GraphBatch, GraphPathTask

    sizes = GGNN_QUICK_SIZES if quick else GGNN_SIZES
    B, N, D, K = (sizes[k] for k in ("B", "N", "D", "K"))
    task = GraphPathTask(n_min=min(6, N), n_max=N)
    batch = cast(GraphBatch, task.train_batch(0, B))
    A = batch.annotations.shape[-1]
    ours = GGNN(A, D, N, steps=K)
    plain = PlainGGNN(A, D, K)

    def steps(model: nn.Module, forward: Callable[[], Tensor]) -> Callable[[], None]:
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        return optimizer_steps(optimizer, lambda: F.cross_entropy(forward(), batch.y), STEPS)

    num_s, den_s = compare(
        steps(ours, lambda: ours(batch)[0]),
        steps(plain, lambda: plain(batch.annotations, batch.adjacency, batch.mask)),
        repeats,
    )
    config = timing_config(sizes, repeats)
    config["pass"] = f"{STEPS} Adam steps (forward+backward)"
    config["graphs_per_s"] = {"rnnlab": STEPS * B / num_s, "plain": STEPS * B / den_s}
    return BenchResult(
        name=GGNN_BENCH,
        ratio=num_s / den_s,
        numerator=f"rnnlab GGNN (GRU update, {K} steps, node selection) training steps",
        denominator="plain single-file GGNN of the same model",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )
