"""Multi-process data-parallel training: the mechanics, in one place.

``torchrun --standalone --nproc_per_node=N -m rnnlab train ...`` starts ``N`` processes
with ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` set; :func:`session` reads them, joins
the process group (gloo on the CPU, nccl on CUDA, one GPU per local rank) and makes the
:class:`World` the loop asks for. A plain run sees ``World(rank=0, size=1)`` and every
helper here does nothing (no process group, no collective).

The promise: an ``N``-process run computes what a one-process run computes on the same
global batch, up to the order of floating-point sums. How:

* **Rows.** ``train_batch(step, B)`` is a pure function of the seed and the step, so every
  rank builds the global batch and takes its contiguous block of ``B / N`` rows
  (:meth:`World.rows`); a streaming task's ``B`` streams are so split contiguously, and
  each rank carries the truncated-BPTT state of its own streams. ``B`` must be divisible
  by ``N``.
* **Gradients.** The objective (which holds the model) is wrapped in
  ``DistributedDataParallel`` (:func:`wrap`): each rank's loss is a mean over its rows,
  and DDP averages the gradients, giving the gradient of the mean over the global batch
  (exactly so when every rank's loss averages the same number of scored items: fixed-length
  tasks; with padded targets a rank's mean weighs its own tokens). Clipping then sees the
  same gradients on every rank. Professor forcing's discriminator, trained inside the
  objective's forward with its own optimiser, averages its gradients by
  :func:`average_gradients` and gates on the accuracy over the global batch
  (:func:`sum_across`).
* **Random numbers.** Every rank seeds the same generators and so draws the same numbers.
  What is drawn per row of the batch (the samples fed back by professor forcing and
  scheduled sampling) is drawn for the whole global batch and sliced
  (:func:`sample_rows`, :func:`uniform_rows`), so each row gets the number it gets in a
  one-process run and every rank's generator stays in step. Dropout masks are drawn per
  rank (a rank's rows reuse the masks of the same rows on the other ranks): runs with
  dropout train correctly but do not equal a one-process run.
* **Agreement.** Decisions are made from figures every rank shares: the logged loss is the
  mean across ranks (:meth:`World.mean`), the training time is rank 0's
  (:meth:`World.from_main`, so time budgets and time schedules agree), and evaluation
  runs on every rank identically (the same weights, data and random numbers: previews
  draw samples, and every rank must draw them to stay in step), with rank 0's metrics
  broadcast (:meth:`World.broadcast`) so that the best checkpoint, early stopping and
  ``on_validation`` watchers agree even where kernels are not bit-reproducible.
* **Files.** Rank 0 writes the run folder; the others wait at barriers
  (:func:`barrier`) before anything is read back. A checkpoint's carried state is the
  global batch's (:meth:`World.gather_rows`), so ``--resume`` works with any number of
  processes, and its weights are the unwrapped model's (no ``module.`` prefix).

Threads: ``torchrun`` sets ``OMP_NUM_THREADS=1`` per process, which
:mod:`rnnlab.training.threads` keeps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from rnnlab._tree import map_state, state_leaves, state_with_leaves

T = TypeVar("T")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer (set by torchrun)") from None


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``size`` 1: a plain run)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the run folder and prints."""
        return self.rank == 0

    def check_batch_size(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise ValueError(
                f"batch size {batch_size} is not divisible by the {self.size} processes "
                f"(WORLD_SIZE); choose a multiple of {self.size}"
            )

    def rows(self, batch_size: int) -> slice:
        """This rank's contiguous rows of a global batch of ``batch_size`` rows."""
        self.check_batch_size(batch_size)
        per_rank = batch_size // self.size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def mean(self, values: Sequence[float]) -> list[float]:
        """The means across ranks of ``values`` (one all-reduce; the values themselves in
        a plain run)."""
        if not self.distributed:
            return list(values)
        summed = sum_across(torch.tensor(list(values), dtype=torch.float64))
        return [v / self.size for v in summed.tolist()]

    def from_main(self, value: float) -> float:
        """Rank 0's ``value`` on every rank."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.broadcast(t, src=0)
        return float(t.item())

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` (picklable; passed between this run's own processes only)."""
        if not self.distributed:
            return obj
        box: list[Any] = [obj]
        dist.broadcast_object_list(box, src=0)
        result: T = box[0]
        return result

    def gather_rows(self, state: Any) -> Any:
        """A batch-first state (or batch) of the global batch, from every rank's rows
        (concatenated in rank order along the first dimension)."""
        if not self.distributed or state is None:
            return state
        leaves = []
        for leaf in state_leaves(state):
            parts = [torch.empty_like(leaf) for _ in range(self.size)]
            dist.all_gather(parts, leaf.contiguous())
            leaves.append(torch.cat(parts))
        return state_with_leaves(state, leaves)

    def take_rows(self, state: Any, batch_size: int) -> Any:
        """This rank's rows of a batch-first state (or batch) of the global batch."""
        if not self.distributed or state is None:
            return state
        rows = self.rows(batch_size)
        return map_state(lambda t: t[rows], state)


_ACTIVE = World()


def world() -> World:
    """The world of the training run in progress (``World()`` outside :func:`session`)."""
    return _ACTIVE


def world_from_env() -> World:
    """The world ``torchrun`` describes in ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``."""
    size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={size} do not describe a process group")
    return World(rank, size, local_rank)


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed): the process that logs and checkpoints."""
    return _env_int("RANK", 0) == 0


def barrier() -> None:
    """Wait for every rank when running distributed; nothing otherwise."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@contextmanager
def session(device: torch.device) -> Iterator[tuple[World, torch.device]]:
    """Join the process group ``torchrun`` set up (when ``WORLD_SIZE`` > 1 and none is
    joined yet; left on exit) and yield ``(world, device)``: on CUDA the device becomes
    this process's GPU, ``cuda:LOCAL_RANK``. A plain run yields ``(World(), device)``.

    A group once left cannot be joined again in the same process: a caller that trains
    several runs in one process joins it first (``torch.distributed.init_process_group``)
    and each run then finds it joined (and waits at a barrier there, as joining waits for
    every rank, so no rank writes the run folder before all have looked at it) and leaves
    it be."""
    global _ACTIVE
    found = world_from_env()
    if not found.distributed:
        yield World(), device
        return
    if not dist.is_available():
        raise ValueError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if device.type == "cuda":
        device = torch.device("cuda", found.local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ValueError(f"multi-process training runs on cpu or cuda, not {device.type}")
    joined = not dist.is_initialized()
    if joined:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=30))
    else:  # a rendezvous, as joining is: no rank writes before all have checked the folder
        dist.barrier()
    _ACTIVE = World(dist.get_rank(), dist.get_world_size(), found.local_rank)
    try:
        yield _ACTIVE, device
    finally:
        _ACTIVE = World()
        if joined:
            dist.destroy_process_group()


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in ``DistributedDataParallel`` when distributed (parameters a forward
    leaves unused are allowed: families differ in what a step touches); itself otherwise."""
    if not world().distributed:
        return module
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        module, device_ids=device_ids, find_unused_parameters=True
    )


def sum_across(t: Tensor) -> Tensor:
    """``t`` summed over the ranks (a copy; ``t`` itself in a plain run)."""
    if not world().distributed:
        return t
    summed = t.detach().clone().to(_collective_device())
    dist.all_reduce(summed)
    return summed.to(t.device)


def average_gradients(parameters: Iterator[nn.Parameter] | Sequence[nn.Parameter]) -> None:
    """Average the ``.grad`` of ``parameters`` across ranks (for a module trained outside
    DDP, such as professor forcing's discriminator); nothing in a plain run."""
    w = world()
    if not w.distributed:
        return
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= w.size


def sample_rows(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One token per row of ``probs (b, V)`` (``torch.multinomial``), drawn for the whole
    global batch (every rank's ``probs`` gathered) and sliced to this rank's rows, so each
    row gets the token it gets in a one-process run and every rank's generator advances
    alike. Returns ``(b,)`` long."""
    w = world()
    if not w.distributed:
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
    parts = [torch.empty_like(probs) for _ in range(w.size)]
    dist.all_gather(parts, probs.contiguous())
    tokens = torch.multinomial(torch.cat(parts), 1, generator=generator).squeeze(1)
    return tokens[w.rows(tokens.shape[0])]


def uniform_rows(
    n: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> Tensor:
    """``n`` uniform numbers in [0, 1), this rank's rows of ``n * world size`` drawn at once
    (``torch.rand(n)`` in a plain run)."""
    w = world()
    draws = torch.rand(n * w.size, generator=generator, device=device)
    return draws[w.rows(draws.shape[0])] if w.distributed else draws


def unwrapped(module: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (``module.`` dropped)."""
    inner = getattr(module, "module", None)
    if isinstance(module, nn.parallel.DistributedDataParallel) and isinstance(inner, nn.Module):
        return inner
    return module


def _collective_device() -> torch.device:
    """Where this backend's collectives take tensors: the GPU for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
