"""Length extrapolation of the Transformer LM's position schemes.

Usage: ``python benchmarks/length_extrapolation.py RUN_DIR [RUN_DIR ...]`` where each run
is a ``shakespeare`` (or ``charlm``) Transformer trained at context 128 with no carried
memory (``--T 128 --max-length 128``), e.g. (see benchmarks/length_extrapolation.sh)::

    rnnlab train shakespeare --data tinyshakespeare.txt --model transformer \\
        --positions alibi --T 128 --max-length 128 --out runs/len-alibi

Each model reads the validation text cut into windows of 128, 256 and 512 characters,
each window from an empty cache (no state carried); the table gives the mean loss in
nats/char over all positions of the windows and over the positions past 128 only (the
ones never seen in training). A learned table has no row past 128: its model is rebuilt
with 512 rows, the trained 128 copied and the rest left at their initialisation.
"""

from __future__ import annotations

import dataclasses
import sys

import torch
import torch.nn.functional as F

import rnnlab
from rnnlab.models import TransformerLM, build_model
from rnnlab.tasks.base import Batch

LENGTHS = (128, 256, 512)


def widened(run: rnnlab.TrainedRun, max_length: int) -> TransformerLM:
    """The run's model with room for ``max_length`` positions (learned rows past the
    trained ones keep their initialisation)."""
    config = dataclasses.replace(run.config.model, max_length=max_length)
    torch.manual_seed(0)
    model = build_model(config, run.spec)
    assert isinstance(model, TransformerLM)
    trained = run.model.state_dict()
    state = model.state_dict()
    for name, value in trained.items():
        state[name][: value.shape[0]] = value  # the learned table: the first rows
    model.load_state_dict(state)
    return model.eval()


def window_losses(model: TransformerLM, tokens: torch.Tensor, L: int) -> tuple[float, float]:
    """Mean loss over all positions of non-overlapping windows of ``L + 1`` characters
    (inputs ``L``), and over the positions ``>= 128`` only (``nan`` when ``L <= 128``)."""
    n = (tokens.numel() - 1) // L
    x = tokens[: n * L].view(n, L)
    y = tokens[1 : n * L + 1].view(n, L)
    total = torch.zeros(L)
    with torch.no_grad():
        for rows in range(0, n, 32):
            logits, _ = model(Batch(x[rows : rows + 32]))
            loss = F.cross_entropy(
                logits.flatten(0, 1), y[rows : rows + 32].flatten(), reduction="none"
            )
            total += loss.view(-1, L).sum(0)
    per_position = total / n
    past = float(per_position[128:].mean()) if L > 128 else float("nan")
    return float(per_position.mean()), past


def main(runs: list[str]) -> None:
    print("| positions | steps | L=128 | L=256: all / past 128 | L=512: all / past 128 |")
    print("|---|---|" + "---|" * len(LENGTHS))
    for run_dir in runs:
        run = rnnlab.load(run_dir)
        tokens = run.task().tokens("val")
        model = widened(run, max(LENGTHS))
        cells = []
        for L in LENGTHS:
            everything, past = window_losses(model, tokens, L)
            cells.append(f"{everything:.3f} / {past:.3f}" if L > 128 else f"{everything:.3f}")
        positions = run.config.model.positions
        print(f"| {positions} | {run.summary.get('steps')} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
