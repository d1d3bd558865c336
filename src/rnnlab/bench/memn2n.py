"""``memn2n_step_vs_plain``: training steps of rnnlab's MemN2N against a plain single-file
implementation of the same model written here (3 hops, position encoding, temporal
encoding, adjacent tying; d = 20; no linear start or random noise on either side), on
bAbI task 1's sizes (batch 32, 10 sentences of 7 words, 6 answers, 22 words). Each timed
run is 20 SGD steps (cross-entropy summed over the batch, clip 40); the figure in stories/s
is ``20 * B / seconds``. The library must not be slower than the script (ratio <= 1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.bench.timing import BenchResult, compare, optimizer_steps, timing_config

MEMN2N_BENCH = "memn2n_step_vs_plain"
MEMN2N_SIZES: dict[str, int] = {"V": 22, "A": 6, "B": 32, "S": 10, "J": 7, "d": 20, "hops": 3}
MEMN2N_QUICK_SIZES: dict[str, int] = {"V": 12, "A": 3, "B": 4, "S": 3, "J": 4, "d": 4, "hops": 2}
STEPS = 20  # SGD steps per timed run


class PlainMemN2N(nn.Module):
    """The script's model: embeddings E_0..E_K (adjacent), temporal T_0..T_K, PE."""

    def __init__(self, V: int, A: int, d: int, hops: int, memory: int) -> None:
        super().__init__()
        self.E = nn.ParameterList(nn.Parameter(torch.randn(V, d) * 0.1) for _ in range(hops + 1))
        self.T = nn.ParameterList(
            nn.Parameter(torch.randn(memory, d) * 0.1) for _ in range(hops + 1)
        )
        self.hops, self.A, self.d = hops, A, d
        with torch.no_grad():
            for e in self.E:
                e[0].zero_()  # the nil word

    def pe(self, tokens: Tensor) -> Tensor:
        """The official code's position encoding, J each sentence's length."""
        J = (tokens != 0).sum(-1, keepdim=True).clamp(min=1).float()
        j = torch.arange(1, tokens.shape[-1] + 1).float()
        k = torch.arange(1, self.d + 1).float()
        centred = ((j - (J + 1) / 2) / J).unsqueeze(-1)  # (..., J, 1)
        return 1 + 4 * (k - (self.d + 1) / 2) * centred / self.d

    def forward(self, story: Tensor, query: Tensor, lengths: Tensor) -> Tensor:
        S = story.shape[1]
        mask = torch.arange(S) < lengths.unsqueeze(1)
        time = (lengths.unsqueeze(1) - 1 - torch.arange(S)).clamp(min=0)
        l_story, l_query = self.pe(story), self.pe(query)
        u = (F.embedding(query, self.E[0], padding_idx=0) * l_query).sum(1)
        for k in range(self.hops):
            m = (F.embedding(story, self.E[k], padding_idx=0) * l_story).sum(2) + self.T[k][time]
            c = (F.embedding(story, self.E[k + 1], padding_idx=0) * l_story).sum(2)
            c = c + self.T[k + 1][time]
            p = torch.softmax((m @ u.unsqueeze(-1)).squeeze(-1).masked_fill(~mask, -1e30), -1)
            u = u + (p.unsqueeze(-1) * c).sum(1)
        return u @ self.E[self.hops][2 : 2 + self.A].t()


def run_memn2n_step(quick: bool, repeats: int) -> BenchResult:
    from rnnlab.memory.memn2n import MemN2N
    from rnnlab.tasks.babi import BabiBatch

    sizes = MEMN2N_QUICK_SIZES if quick else MEMN2N_SIZES
    V, A, B, S, J, d, hops = (sizes[k] for k in ("V", "A", "B", "S", "J", "d", "hops"))
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, S + 1, (B,), generator=g)
    story = torch.randint(1, V, (B, S, J), generator=g)
    story[torch.arange(S) >= lengths.unsqueeze(1)] = 0
    story[:, :, J - 2 :] = 0  # ragged sentences
    query = torch.randint(1, V, (B, J), generator=g)
    query[:, 4:] = 0
    y = torch.randint(A, (B,), generator=g)
    batch = BabiBatch(story, query, y, lengths, torch.zeros(B, S, dtype=torch.bool), y)
    ours = MemN2N(V, A, d, hops, memory_size=50)
    plain = PlainMemN2N(V, A, d, hops, 50)

    def steps(model: nn.Module, forward: Callable[[], Tensor]) -> Callable[[], None]:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

        def loss() -> Tensor:
            return F.cross_entropy(forward(), y, reduction="sum")

        return optimizer_steps(optimizer, loss, STEPS, clip=40.0)

    num_s, den_s = compare(
        steps(ours, lambda: ours(batch)[0]),
        steps(plain, lambda: plain(story, query, lengths)),
        repeats,
    )
    config = timing_config(sizes, repeats)
    config["pass"] = f"{STEPS} SGD steps (forward+backward+clip)"
    config["stories_per_s"] = {"rnnlab": STEPS * B / num_s, "plain": STEPS * B / den_s}
    return BenchResult(
        name=MEMN2N_BENCH,
        ratio=num_s / den_s,
        numerator=f"rnnlab MemN2N ({hops} hops, PE, TE, adjacent) training steps",
        denominator="plain single-file MemN2N of the same model",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )
