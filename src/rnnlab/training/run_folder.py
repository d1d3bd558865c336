"""A run folder on disk: what training writes and what ``--resume`` reads back.

Files (every one written to a temporary name and renamed into place):

* ``config.json``: the resolved run configuration and ``task_info`` (the task's spec,
  vocabulary or codec, metadata), enough to rebuild the model without the task's data.
* ``metrics.jsonl``: one JSON object per evaluation and per training window.
* ``best.safetensors``: the weights with the best ``val`` figure.
* ``trainer.pt``: the one unit a resume reads: step, time, the model's and optimiser's
  state, RNG states, the pre-clip gradient norms and any objective state (professor
  forcing's discriminator). It is written last, in one rename, so a resume never mixes two
  checkpoints.
* ``last.safetensors`` and ``clipping.json``: the same checkpoint's weights and gradient
  norms, for ``rnnlab.load(run, checkpoint="last")`` and ``diagnose clipping``.
* ``summary.json``: when training ends.

Only rank 0 writes (``RANK`` environment variable); the other ranks wait at a barrier when
``torch.distributed`` is initialised, so every rank sees a checkpoint once it exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab._io import json_line, read_json, write_json
from rnnlab.training.checkpoint import (
    load_trainer_state,
    load_weights,
    save_trainer_state,
    save_weights,
)


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed): the process that logs and checkpoints."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait for every rank when running distributed; nothing otherwise."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run folder, as a dict."""
    data: dict[str, Any] = read_json(Path(run_dir) / "config.json")
    return data


class RunFolder:
    """The run folder ``path``, written by rank 0 only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.main = is_main_process()
        self._writer: Any = None

    def start(self, record: dict[str, Any], resume: bool) -> None:
        """Create the folder (a fresh run clears its metrics) and write ``config.json``."""
        if self.main:
            self.path.mkdir(parents=True, exist_ok=True)
            if not resume:
                (self.path / "metrics.jsonl").unlink(missing_ok=True)
                (self.path / "samples.txt").unlink(missing_ok=True)
            write_json(self.path / "config.json", record)
            self._writer = _tensorboard(self.path)
        barrier()

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON object to ``metrics.jsonl`` (and TensorBoard when installed)."""
        if not self.main:
            return
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json_line(record) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if key not in ("step", "split") and isinstance(value, (int, float)):
                    self._writer.add_scalar(f"{record['split']}/{key}", value, record["step"])

    def add_sample(self, step: int, text: str) -> None:
        """Append the task's preview of the model at ``step`` to ``samples.txt``."""
        if self.main:
            with open(self.path / "samples.txt", "a", encoding="utf-8") as f:
                f.write(f"--- step {step} ---\n{text}\n")

    def save_best(self, model: nn.Module) -> None:
        if self.main:
            save_weights(model, self.path / "best.safetensors")

    def load_best(self, model: nn.Module) -> None:
        barrier()
        load_weights(model, self.path / "best.safetensors")

    def save_checkpoint(self, model: nn.Module, state: dict[str, Any]) -> None:
        """Write the resume unit ``trainer.pt`` (with the model's weights) and, before it,
        the user-facing ``last.safetensors`` and ``clipping.json``."""
        if self.main:
            norms = state["grad_norms"]
            write_json(
                self.path / "clipping.json",
                {
                    "clip": state["clip"],
                    "clipped_fraction": state["n_clipped"] / max(1, state["step"]),
                    "grad_norm": norms,
                },
            )
            save_weights(model, self.path / "last.safetensors")
            weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            save_trainer_state({**state, "model": weights}, self.path / "trainer.pt")
        barrier()

    def load_checkpoint(self, model: nn.Module) -> dict[str, Any]:
        """The state saved by :meth:`save_checkpoint`, its weights loaded into ``model``.
        (Runs written before ``trainer.pt`` held the weights and the gradient norms read
        them from ``last.safetensors`` and ``clipping.json``.)"""
        state = load_trainer_state(self.path / "trainer.pt")
        if "model" in state:
            device = next(model.parameters()).device
            model.load_state_dict({k: v.to(device) for k, v in state.pop("model").items()})
        else:
            load_weights(model, self.path / "last.safetensors")
        if "grad_norms" not in state:
            state["grad_norms"] = list(read_json(self.path / "clipping.json")["grad_norm"])
        state["grad_norms"] = list(state["grad_norms"])[: state["step"]]
        return state

    def write_summary(self, summary: dict[str, Any]) -> None:
        if self.main:
            write_json(self.path / "summary.json", summary)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _tensorboard(path: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except (ImportError, ModuleNotFoundError):
        return None
    return SummaryWriter(str(path / "tensorboard"))
