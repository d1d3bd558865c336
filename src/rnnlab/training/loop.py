"""The training loop: one readable function, with run folders, checkpoints and resume.

A run folder holds ``config.json`` (the resolved :class:`RunConfig`), ``metrics.jsonl`` (one
JSON object per evaluation, plus ``split: "train"`` lines with the training loss and the
pre-clip gradient norm, and with professor forcing the discriminator's ``pf_*`` figures),
``best.safetensors`` (weights with the best ``val`` figure), ``last.safetensors`` and
``trainer.pt`` (optimiser, scheduler and RNG state, and professor forcing's discriminator
with its optimiser, for ``--resume``) and, when training ends, ``summary.json``.

Only rank 0 writes (``RANK`` environment variable), so the loop can later run under
``torchrun`` with DistributedDataParallel.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rnnlab._io import read_json, write_json
from rnnlab.cells.base import detach_state, map_state
from rnnlab.cells.hmrnn import HMRNNCell
from rnnlab.models.build import build_model
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import build_task
from rnnlab.training.checkpoint import (
    load_trainer_state,
    load_weights,
    save_trainer_state,
    save_weights,
)
from rnnlab.training.config import RunConfig
from rnnlab.training.evaluate import evaluate
from rnnlab.training.optim import make_optimizer, make_scheduler
from rnnlab.training.professor_forcing import ProfessorForcing
from rnnlab.training.scheduled_sampling import scheduled_sampling_forward


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed): the process that logs and checkpoints."""
    return int(os.environ.get("RANK", "0")) == 0


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [int(v) for v in np.random.get_state()[1]],  # type: ignore[index]
        "numpy_pos": int(np.random.get_state()[2]),  # type: ignore[index]
        "python": random.getstate()[1],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = np.array(state["numpy"], dtype=np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _better(value: float, best: float | None, higher_is_better: bool) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if higher_is_better else value < best


class _MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (and TensorBoard if present)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        self.writer: Any = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(path.parent / "tensorboard"))
            except (ImportError, ModuleNotFoundError):
                self.writer = None

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key not in ("step", "split") and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"{record['split']}/{key}", value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def train(
    config: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    task: Task | None = None,
) -> dict[str, Any]:
    """Train ``config`` into the run folder ``out_dir`` and return its summary.

    With ``resume=True`` training continues from ``out_dir``'s last checkpoint, seeing the
    same batches it would have seen without the interruption (a streaming task's carried
    state starts afresh at the resumed step). ``task`` may be passed when
    already built (data generation is never counted in ``max_time``).
    """
    out = Path(out_dir)
    cfg = config.train
    main = is_main_process()
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r} requested but CUDA is not available")

    if task is None:
        task = build_task(config.task, config.task_options)
    schedule = cfg.sampling_schedule()
    if schedule is not None and task.kind not in ("lm", "seq2seq"):
        raise ValueError(
            f"scheduled sampling needs a generative task (kind lm or seq2seq), not {task.kind!r}"
        )
    if cfg.professor_forcing and task.kind != "lm":
        raise ValueError(f"professor forcing needs a generative task (kind lm), not {task.kind!r}")
    decoding = (cfg.beam_size, cfg.length_penalty)  # how encoder-decoders are evaluated
    seed_everything(cfg.seed)
    model = build_model(config.model, task.kind, task.input_size, task.output_size).to(device)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    # professor forcing: a discriminator with its own optimiser, saved in trainer.pt
    pf = ProfessorForcing.from_config(model, cfg) if cfg.professor_forcing else None

    start_step, train_time = 0, 0.0
    best: float | None = None
    best_step, evals_since_best = -1, 0
    n_clipped = 0
    grad_norms: list[float] = []  # pre-clip global norm of every step
    if resume:
        state = load_trainer_state(out / "trainer.pt")
        load_weights(model, out / "last.safetensors")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        start_step, train_time = state["step"], state["train_time_s"]
        best, best_step = state["best"], state["best_step"]
        evals_since_best, n_clipped = state["evals_since_best"], state["n_clipped"]
        grad_norms = list(read_json(out / "clipping.json")["grad_norm"])[:start_step]
        if pf is not None:
            pf.load_state_dict(state["professor_forcing"])
    elif main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").unlink(missing_ok=True)
    if main:
        record = {**config.to_dict(), "task_info": _task_info(task)}
        write_json(out / "config.json", record)
    log = _MetricsLog(out / "metrics.jsonl", main)

    def checkpoint(step: int) -> None:
        if not main:
            return
        write_json(
            out / "clipping.json",
            {
                "clip": cfg.clip,
                "clipped_fraction": n_clipped / max(1, step),
                "grad_norm": grad_norms,
            },
        )
        save_weights(model, out / "last.safetensors")
        save_trainer_state(
            {
                "step": step,
                "train_time_s": train_time,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(),
                "best": best,
                "best_step": best_step,
                "evals_since_best": evals_since_best,
                "n_clipped": n_clipped,
                **({"professor_forcing": pf.state_dict()} if pf is not None else {}),
            },
            out / "trainer.pt",
        )

    # Hierarchical multiscale cells: anneal the straight-through slope from 1 to 5 over the
    # run (Chung et al. anneal it by 0.04 per epoch to 5; a run's length stands in for
    # epochs so the schedule also applies to tasks with fresh data every batch). With a time
    # budget the run's length is whichever of steps and time runs out first.
    hm_cells = [m for m in model.modules() if isinstance(m, HMRNNCell)]
    carry: Any = None  # state carried across batches by stateful (streaming) tasks

    window: dict[str, float] = {"loss": 0.0, "grad_norm": 0.0, "grad_max": 0.0, "n": 0, "clip": 0}
    stopped = "steps"
    step = last_eval = start_step
    bar = tqdm(total=cfg.steps, initial=start_step, disable=not (progress and main), unit="step")
    model.train()
    while step < cfg.steps:
        if cfg.max_time is not None and train_time >= cfg.max_time:
            stopped = "max_time"
            break
        tick = time.perf_counter()
        if hm_cells:
            done = step / cfg.steps
            if cfg.max_time is not None:
                done = max(done, train_time / cfg.max_time)
            for cell in hm_cells:
                cell.set_slope(1.0 + 4.0 * min(1.0, done))
        batch = task.train_batch(step, cfg.batch_size).to(device)
        # streaming tasks: truncated BPTT, the state carried across batches, its graph cut
        if task.stateful and task.resets_state(step, cfg.batch_size):
            carry = None
        state_in = carry if task.stateful else None
        adversarial = None  # professor forcing's generator term
        # --bf16: matmuls and fused RNN kernels in bfloat16, weights and optimiser in float32
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            if schedule is not None and task.kind == "seq2seq":
                # the decoder's own samples replace the true previous target tokens
                teacher_p = schedule.teacher_probability(step)
                encoded = model.encode(batch.x, batch.lengths)  # type: ignore[operator]
                inputs = model.decoder_inputs(batch.y)  # type: ignore[operator]
                predictions, state_out = scheduled_sampling_forward(
                    model, inputs, teacher_p, encoded
                )
            elif schedule is not None:
                teacher_p = schedule.teacher_probability(step)
                predictions, state_out = scheduled_sampling_forward(
                    model, batch.x, teacher_p, state_in
                )
            elif pf is not None:
                predictions, state_out, adversarial = pf.forward(model, batch.x, state_in)
            elif task.stateful:
                predictions, state_out = model.forward_with_state(batch.x, state_in)  # type: ignore[operator]
            elif task.kind == "vec2seq":  # teacher forcing: the targets, shifted, are the inputs
                predictions, state_out = model(batch.x, batch.y), None
            elif task.kind == "seq2seq":
                predictions, state_out = model(batch.x, batch.lengths, batch.y), None
            else:
                predictions, state_out = model(batch.x, batch.lengths), None
        if task.stateful:
            carry = detach_state(state_out)
            if cfg.bf16:  # carry the state in float32 whatever autocast produced
                carry = map_state(lambda t: t.float() if t.dtype == torch.bfloat16 else t, carry)
        loss = task.loss(predictions.float() if cfg.bf16 else predictions, batch)
        optimizer.zero_grad(set_to_none=True)
        (loss if adversarial is None else loss + adversarial).backward()
        max_norm = cfg.clip if cfg.clip is not None else math.inf
        grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        optimizer.step()
        scheduler.step()
        step += 1
        train_time += time.perf_counter() - tick

        loss_value = float(loss.detach())
        clipped = cfg.clip is not None and grad_norm > cfg.clip
        n_clipped += int(clipped)
        grad_norms.append(grad_norm)
        window["loss"] += loss_value
        window["grad_norm"] += grad_norm
        window["grad_max"] = max(window["grad_max"], grad_norm)
        window["n"] += 1
        window["clip"] += int(clipped)
        bar.update(1)
        if step % 10 == 0 or step == cfg.steps:
            bar.set_postfix(loss=f"{loss_value:.4f}", gnorm=f"{grad_norm:.2f}")
        if not math.isfinite(loss_value):
            stopped = "diverged"
            break

        if step % cfg.eval_every == 0 or step == cfg.steps:
            n = max(1.0, window["n"])
            log.write(
                {
                    "step": step,
                    "split": "train",
                    "loss": window["loss"] / n,
                    "grad_norm": window["grad_norm"] / n,
                    "grad_norm_max": window["grad_max"],
                    "clipped_fraction": window["clip"] / n,
                    "lr": optimizer.param_groups[0]["lr"],
                    **(
                        {"teacher_probability": schedule.teacher_probability(step)}
                        if schedule is not None
                        else {}
                    ),
                    **(pf.window_stats() if pf is not None else {}),
                    "train_time_s": train_time,
                }
            )
            window = {"loss": 0.0, "grad_norm": 0.0, "grad_max": 0.0, "n": 0, "clip": 0}
            metrics = evaluate(model, task, "val", cfg.eval_batch_size, str(device), *decoding)
            log.write({"step": step, "split": "val", **metrics, "train_time_s": train_time})
            last_eval = step
            value = metrics[task.main_metric]
            if _better(value, best, task.higher_is_better):
                best, best_step, evals_since_best = value, step, 0
                if main:
                    save_weights(model, out / "best.safetensors")
            else:
                evals_since_best += 1
            checkpoint(step)
            bar.set_description(f"val {task.main_metric} {value:.4f}")
            if cfg.patience is not None and evals_since_best >= cfg.patience:
                stopped = "early_stopping"
                break
    bar.close()

    if best_step < 0 or (stopped == "max_time" and step > start_step and last_eval < step):
        # the time budget ran out between evaluations: evaluate the last weights too
        metrics = evaluate(model, task, "val", cfg.eval_batch_size, str(device), *decoding)
        log.write({"step": step, "split": "val", **metrics, "train_time_s": train_time})
        value = metrics[task.main_metric]
        if best_step < 0 or _better(value, best, task.higher_is_better):
            best, best_step = value, step
            if main:
                save_weights(model, out / "best.safetensors")
    checkpoint(step)

    load_weights(model, out / "best.safetensors")
    final = {
        split: evaluate(model, task, split, cfg.eval_batch_size, str(device), *decoding)
        for split in ("val", "test")
    }
    log.write({"step": best_step, "split": "test", **final["test"]})
    log.close()
    summary = {
        "task": config.task,
        "model": config.model.cell
        + (f"({config.model.inner_cell})" if config.model.inner_cell else ""),
        "params": count_parameters(model),
        "steps": step,
        "best_step": best_step,
        "stopped": stopped,
        "wall_time_s": round(train_time, 3),
        "main_metric": task.main_metric,
        "baseline": task.baseline,
        "metrics": final,
        "clipped_fraction": n_clipped / max(1, step),
        "device": str(device),
    }
    if task.kind == "seq2seq":
        summary["attention"] = config.model.attention
        summary["beam_size"] = cfg.beam_size
    note = getattr(task, "note", None)
    if note:
        summary["note"] = note
    if main:
        write_json(out / "summary.json", summary)
    return summary


def _task_info(task: Task) -> dict[str, Any]:
    info: dict[str, Any] = {
        "kind": task.kind,
        "input_size": task.input_size,
        "output_size": task.output_size,
        "main_metric": task.main_metric,
        "higher_is_better": task.higher_is_better,
        "baseline": task.baseline,
        "options": task.options(),
    }
    vocab = getattr(task, "vocab", None)
    if vocab is not None:  # generative tasks: the vocabulary travels with the checkpoint
        info["vocab"] = vocab.to_json()
    codec = getattr(task, "codec", None)
    if codec is not None:  # seq2seq tasks: vocabularies, tokenisers, decoding limit
        info["codec"] = codec.to_json()
    metadata = getattr(task, "metadata", None)
    if metadata:  # e.g. the corpus checksum and the interpreter version it came from
        info["metadata"] = metadata
    return info


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run folder, as a dict."""
    data: dict[str, Any] = read_json(Path(run_dir) / "config.json")
    return data
