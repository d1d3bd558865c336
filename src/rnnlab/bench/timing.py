"""What every benchmark shares: its result, its settings, and interleaved timing
(:func:`compare`: both sides warmed up, then their runs interleaved, medians reported)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

WARMUP = 2


@dataclass
class BenchResult:
    """One comparison: ``ratio = numerator_s / denominator_s``; above 1, rnnlab is slower."""

    name: str
    ratio: float
    numerator: str  # what was timed on top (rnnlab)
    denominator: str  # the baseline (torch)
    numerator_s: float  # seconds per forward+backward, median over repeats
    denominator_s: float
    config: dict[str, Any]


@dataclass(frozen=True)
class BenchSettings:
    """What :func:`~rnnlab.bench.run_benchmarks` passes to every benchmark function."""

    repeats: int  # timed runs per side (after the warm-up)
    quick: bool  # tiny sizes, for tests
    beam_sources: Sequence[Sequence[int]] | None = None  # --data: Multi30k validation sources


BenchFn = Callable[[BenchSettings], BenchResult]


def train_step(module: nn.Module, x: Tensor) -> Callable[[], None]:
    """One forward and backward pass of ``module`` on ``x``, gradients reset each time."""
    params = list(module.parameters())

    def run() -> None:
        for p in params:
            p.grad = None
        y, _ = module(x)
        y.sum().backward()

    return run


def lm_train_step(
    model: nn.Module, forward: Callable[[], Tensor], targets: Tensor, lr: float
) -> Callable[[], None]:
    """One AdamW step of a language model: ``forward()`` gives logits ``(B, T, V)``, scored
    by next-token cross-entropy against ``targets (B, T)``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

    def loss() -> Tensor:
        return torch.nn.functional.cross_entropy(forward().flatten(0, 1), targets.flatten())

    return optimizer_steps(optimizer, loss)


def optimizer_steps(
    optimizer: torch.optim.Optimizer,
    loss: Callable[[], Tensor],
    steps: int = 1,
    clip: float | None = None,
) -> Callable[[], None]:
    """``steps`` training steps: ``loss()``, backward, the gradient norm of the optimizer's
    parameters clipped to ``clip`` when given, then ``optimizer.step()``."""
    params = [p for group in optimizer.param_groups for p in group["params"]]

    def run() -> None:
        for _ in range(steps):
            value = loss()
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()

    return run


def _seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    numerator: Callable[[], None],
    denominator: Callable[[], None],
    repeats: int,
    warmup: int = WARMUP,
) -> tuple[float, float]:
    """Median seconds of ``numerator`` and ``denominator`` over interleaved runs."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        numerator()
        denominator()
    num: list[float] = []
    den: list[float] = []
    for r in range(repeats):
        if r % 2 == 0:
            num.append(_seconds(numerator))
            den.append(_seconds(denominator))
        else:
            den.append(_seconds(denominator))
            num.append(_seconds(numerator))
    return statistics.median(num), statistics.median(den)


def timing_config(sizes: dict[str, int], repeats: int) -> dict[str, Any]:
    """What a result was measured under, stored beside its ratio."""
    return {
        **sizes,
        "device": "cpu",
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "warmup": WARMUP,
        "statistic": "median",
        "pass": "forward+backward",
        "torch": torch.__version__,
    }
