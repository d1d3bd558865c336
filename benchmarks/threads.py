"""One training step of a 2x128 GRU classifier (batch 100, T=40) with N torch threads.

    python benchmarks/threads.py 1      # run once quiet and once beside CPU-bound jobs

Prints the median and 90th percentile of 35 timed steps (5 warm-up steps dropped); the
figures behind rnnlab's one-thread default are in RESULTS.md ("Threads").
"""

import sys
import time

import torch

from rnnlab.models import RNNConfig, build_model
from rnnlab.tasks.base import Batch
from rnnlab.tasks.spec import TaskSpec


def main(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = RNNConfig(cell="gru", hidden_size=128, num_layers=2)
    model = build_model(config, TaskSpec("classify", 1, 10))
    optimizer = torch.optim.AdamW(model.parameters())
    x, y = torch.randn(100, 40, 1), torch.randint(10, (100,))
    times = []
    for _ in range(40):
        start = time.perf_counter()
        out, _ = model(Batch(x, y))
        loss = torch.nn.functional.cross_entropy(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    times = sorted(times[5:])
    median, p90 = times[len(times) // 2], times[int(len(times) * 0.9)]
    print(f"threads={threads} median {1000 * median:.1f} ms  p90 {1000 * p90:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
