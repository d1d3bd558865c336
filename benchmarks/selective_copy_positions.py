"""Where a trained selective-copy run errs: test accuracy per output position (the k-th
symbol to recall), against the symbol's distance to the markers and against its spacing
from the previous symbol.

    python benchmarks/selective_copy_positions.py /tmp/selcopy/mingru3x64
"""

from __future__ import annotations

import argparse

import torch

from rnnlab.tasks.registry import build_task
from rnnlab.tasks.selective_copy import SelectiveCopyTask
from rnnlab.training.run import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a selective-copy run folder")
    args = parser.parse_args()
    run = load(args.run)
    task = build_task("selective-copy", run.config.task_options)
    if not isinstance(task, SelectiveCopyTask):
        raise TypeError(f"{args.run} is not a selective-copy run")
    T = task.T
    batch = task.split("test")
    with torch.no_grad():
        out = run.model(batch)
        logits = out[0] if isinstance(out, tuple) else out
    tokens = task.tokens
    correct = logits[:, T:].argmax(-1) == batch.targets[:, T:]  # (B, tokens)
    per_position = correct.float().mean(0)
    print("accuracy per output position:", " ".join(f"{float(a):.2f}" for a in per_position))
    positions = (batch.x.argmax(-1)[:, :T] != 0).nonzero()[:, 1].view(-1, tokens)
    distance = T - positions
    for lo, hi in ((0, 32), (32, 64), (64, 128), (128, T + 1)):
        m = (distance >= lo) & (distance < hi)
        if m.any():
            accuracy = float(correct[m].float().mean())
            print(f"symbols {lo}-{hi} steps before the markers: {accuracy:.3f}")
    spacing = torch.cat([positions[:, :1] + 1, positions[:, 1:] - positions[:, :-1]], 1)
    for lo, hi in ((1, 4), (4, 16), (16, T + 1)):
        m = (spacing >= lo) & (spacing < hi)
        if m.any():
            print(f"spacing {lo}-{hi - 1}: {float(correct[m].float().mean()):.3f}")


if __name__ == "__main__":
    main()
