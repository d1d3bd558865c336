"""A run folder on disk: what training writes and what ``--resume`` reads back.

Files (every one written to a temporary name, synced, and renamed into place):

* ``config.json``: the resolved run configuration and ``task_info`` (the task's spec,
  vocabulary or codec, metadata), enough to rebuild the model without the task's data.
* ``metrics.jsonl``: one JSON object per evaluation and per training window.
* ``best.safetensors``: the weights with the best ``val`` figure.
* ``trainer.pt``: the checkpoint, one unit, the only file a resume reads: step, time, the
  model's weights and the best weights, the optimiser's state, RNG states, the pre-clip
  gradient norms, the state a streaming task carries across batches (truncated BPTT) and
  any objective state (professor forcing's discriminator). It is renamed into place after
  every other file of its step, so a kill at any moment leaves either the previous unit or
  this one, never a mix.
* ``last.safetensors`` and ``clipping.json``: the same checkpoint's weights and gradient
  norms, for ``rnnlab.load(run, checkpoint="last")`` and ``diagnose clipping``.
* ``summary.json``: when training ends.

A resume (:meth:`RunFolder.resume`) makes every other file agree with ``trainer.pt``
before training goes on: ``best.safetensors``, ``last.safetensors`` and ``clipping.json``
are rewritten from it, and ``metrics.jsonl`` keeps the lines up to its step, once each
(what a killed run logged past its last checkpoint is logged again as training replays it).

Only rank 0 writes (``RANK`` environment variable); the other ranks wait at a barrier when
``torch.distributed`` is initialised, so every rank sees a checkpoint once it exists
(:mod:`rnnlab.training.distributed`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from rnnlab._io import CheckpointError, atomic_write, json_line, read_json, write_json
from rnnlab.training.checkpoint import (
    load_tensors,
    load_trainer_state,
    load_weights,
    save_tensors,
    save_trainer_state,
)
from rnnlab.training.distributed import barrier, is_main_process, unwrapped


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run folder, as a dict."""
    path = Path(run_dir) / "config.json"
    data = read_json(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"corrupt {path}: expected a JSON object, got {type(data).__name__}")
    return data


class RunFolder:
    """The run folder ``path``, written by rank 0 only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.main = is_main_process()
        self._writer: Any = None

    def start(self, record: dict[str, Any], resume: bool) -> None:
        """Create the folder (a fresh run clears its metrics) and write ``config.json``."""
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"run folder {self.path} is a file; expected a folder")
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

    def save_best(self, weights: dict[str, Tensor]) -> None:
        if self.main:
            save_tensors(weights, self.path / "best.safetensors")

    def load_best(self, model: nn.Module) -> None:
        barrier()
        load_weights(model, self.path / "best.safetensors")

    def save_checkpoint(self, model: nn.Module, state: dict[str, Any]) -> None:
        """Write ``last.safetensors`` and ``clipping.json``, then the unit ``trainer.pt``
        (``state`` with the model's weights under ``"model"``)."""
        if self.main:
            self._write_views(model_weights(model), state)
            save_trainer_state({**state, "model": model_weights(model)}, self.path / "trainer.pt")
        barrier()

    def _write_views(self, weights: dict[str, Tensor], state: dict[str, Any]) -> None:
        norms = state["grad_norms"]
        write_json(
            self.path / "clipping.json",
            {
                "clip": state.get("clip"),
                "clipped_fraction": state.get("n_clipped", 0) / max(1, state["step"]),
                "grad_norm": norms,
            },
        )
        save_tensors(weights, self.path / "last.safetensors")

    def resume(self, model: nn.Module) -> dict[str, Any]:
        """The state of the last :meth:`save_checkpoint`, its weights loaded into ``model``;
        the other files are made to agree with it first (see the module docstring).

        The state's ``"best_model"`` holds the best weights (``None`` before the first
        evaluation). Runs written before ``trainer.pt`` held the weights read them from
        ``last.safetensors``, their gradient norms from ``clipping.json`` and their best
        weights from ``best.safetensors``."""
        state = self.load_checkpoint(model)
        if "best_model" not in state:  # written before trainer.pt held the best weights
            best = self.path / "best.safetensors"
            state["best_model"] = load_tensors(best) if best.is_file() else None
        if self.main:
            self._write_views(model_weights(model), state)
            if state["best_model"] is not None:
                save_tensors(state["best_model"], self.path / "best.safetensors")
            self._truncate_metrics(state["step"])
            self._truncate_samples(state["step"])
        barrier()
        return state

    def _truncate_metrics(self, step: int) -> None:
        """Keep the ``metrics.jsonl`` lines of steps up to ``step``, the first of each
        ``(step, split)``, without the final ``test`` line of a finished run."""
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return
        kept, seen = [], set()
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
                key = (int(record["step"]), str(record["split"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill
            if key[0] <= step and key[1] != "test" and key not in seen:
                seen.add(key)
                kept.append(line + "\n")
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(kept)))

    def _truncate_samples(self, step: int) -> None:
        """Keep the ``samples.txt`` entries of steps up to ``step``, the first of each."""
        path = self.path / "samples.txt"
        if not path.is_file():
            return
        kept, seen = [], set()
        for entry in path.read_text(encoding="utf-8").split("--- step ")[1:]:
            head, _, text = entry.partition(" ---\n")
            if head.isdigit() and int(head) <= step and head not in seen:
                seen.add(head)
                kept.append(f"--- step {head} ---\n{text}")
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(kept), encoding="utf-8"))

    def load_checkpoint(self, model: nn.Module) -> dict[str, Any]:
        """The state saved by :meth:`save_checkpoint`, its weights loaded into ``model``
        (read only: :meth:`resume` also brings the other files in line)."""
        path = self.path / "trainer.pt"
        state = load_trainer_state(path)
        missing = [k for k in ("step", "optimizer", "rng") if k not in state]
        if missing:
            raise CheckpointError(f"corrupt trainer state {path}: no {missing[0]!r}")
        if "model" in state:
            device = next(model.parameters()).device
            try:
                model.load_state_dict({k: v.to(device) for k, v in state.pop("model").items()})
            except (RuntimeError, AttributeError) as exc:
                first = str(exc).strip().splitlines()[0]
                raise CheckpointError(f"{path} does not match the model: {first}") from None
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


def model_weights(model: nn.Module) -> dict[str, Tensor]:
    """A CPU copy of ``model``'s state dict (what a checkpoint saves; a model wrapped in
    ``DistributedDataParallel`` is unwrapped, so no name carries a ``module.`` prefix)."""
    return {k: v.detach().cpu().clone() for k, v in unwrapped(model).state_dict().items()}


def _tensorboard(path: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except (ImportError, ModuleNotFoundError):
        return None
    return SummaryWriter(str(path / "tensorboard"))
