"""The training loop: batches from the task, a loss from the objective, an optimiser step,
evaluations on ``val`` and checkpoints in the run folder (:mod:`rnnlab.training.run_folder`).

How a batch becomes a loss is the objective's business (:mod:`rnnlab.training.objectives`:
teacher forcing, scheduled sampling, professor forcing); what a model is, the model
family's (:mod:`rnnlab.models.registry`); how it is measured, the task's. Streaming tasks
(``task.stateful``) get truncated BPTT: the state is carried across batches with its graph
cut, reset where the task says. Schedules (learning rate, per-cell annealing through
``on_progress``) run on the run's progress, steps or ``max_time``, whichever is further.
Modules with an ``on_validation(metrics)`` method see every ``val`` evaluation's figures
(a memory network's linear start ends when the validation loss stops falling); what they
change must live in their buffers, so that checkpoints and resumes keep it.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the same loop trains data-parallel: each process
takes its rows of the global batch and the objective is wrapped in
``DistributedDataParallel``; :mod:`rnnlab.training.distributed` holds the mechanics (rows,
agreement on decisions, rank 0 writing) and says what equals a one-process run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab._checks import check_device
from rnnlab._plugins import loaded_plugins
from rnnlab._tree import state_from_plain, state_to_plain
from rnnlab.cells.base import detach_state, map_state
from rnnlab.models.base import describe
from rnnlab.models.registry import build_model
from rnnlab.tasks.base import Task, batch_length, batch_rows, batch_to
from rnnlab.tasks.registry import build_task
from rnnlab.training.config import UNBOUNDED_STEPS, RunConfig, check_resume_config
from rnnlab.training.distributed import World, session, world_from_env, wrap
from rnnlab.training.evaluate import ModelEvaluator, evaluate
from rnnlab.training.numerics import NonFiniteError, step_fault, weights_fault
from rnnlab.training.objectives import autocast, make_objective
from rnnlab.training.optim import make_optimizer, run_progress, set_learning_rate
from rnnlab.training.rng import rng_state, seed_everything, set_rng_state
from rnnlab.training.run_folder import RunFolder, model_weights, read_config
from rnnlab.training.threads import training_threads


@dataclass
class Progress:
    """What a checkpoint records of the loop (``trainer.pt``), besides the weights."""

    step: int = 0
    train_time_s: float = 0.0
    best: float | None = None
    best_step: int = -1
    best_metrics: dict[str, float] | None = None  # val metrics of the best weights
    evals_since_best: int = 0
    n_clipped: int = 0
    grad_norms: list[float] = field(default_factory=list)  # pre-clip global norm per step
    skipped_steps: int = 0  # steps dropped by --on-nan skip
    lr_scale: float = 1.0  # halved by each skipped step


def train(
    config: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    task: Task | None = None,
) -> dict[str, Any]:
    """Train ``config`` into the run folder ``out_dir`` and return its summary.

    With ``resume=True`` training continues from ``out_dir``'s last checkpoint (the carried
    state of a streaming task included) and ends with the weights and metrics of an
    uninterrupted run; ``config`` may differ from the run's only in the fields
    :data:`~rnnlab.training.config.RESUMABLE_FIELDS` names (a ``ValueError`` otherwise),
    and its ``steps`` may not be below the step reached. ``task`` may be passed when already built
    (data generation is never counted in ``max_time``).

    A NaN or Inf in a step's loss or gradients, or in the weights at an evaluation, raises
    :class:`~rnnlab.training.numerics.NonFiniteError` naming the step (after writing a
    ``summary.json`` that says so; no non-finite checkpoint is ever written), unless
    ``config.train.on_nan`` is ``"skip"`` (see :mod:`rnnlab.training.numerics`).

    Started by ``torchrun`` (``WORLD_SIZE`` > 1), the processes train data-parallel, each
    on ``batch_size / WORLD_SIZE`` rows of the global batch (a ``ValueError`` when it does
    not divide), and every one returns the summary rank 0 writes; see
    :mod:`rnnlab.training.distributed`.
    """
    device = check_device(config.train.device)
    world_from_env().check_batch_size(config.train.batch_size)  # before any process waits
    with session(device) as (world, device), training_threads(config.train.threads, device) as th:
        return _train(config, Path(out_dir), device, th, resume, progress, task, world)


def _train(
    config: RunConfig,
    out_dir: Path,
    device: torch.device,
    threads: dict[str, Any],
    resume: bool,
    progress: bool,
    task: Task | None,
    world: World,
) -> dict[str, Any]:
    cfg = config.train
    task = task or build_task(config.task, config.task_options)
    seed_everything(cfg.seed)
    model = build_model(config.model, task.spec).to(device)
    optimizer = make_optimizer(model, cfg)
    objective = make_objective(model, task, cfg)
    folder = RunFolder(out_dir)
    done = Progress()
    carry: Any = None  # the state streaming tasks carry across batches
    best_weights: dict[str, Tensor] | None = None  # saved with each checkpoint
    if resume:
        check_resume_config(RunConfig.from_dict(read_config(out_dir)), config)
        saved = folder.resume(model)
        if saved["step"] > cfg.steps:
            raise ValueError(
                f"steps={cfg.steps} is below the {saved['step']} steps the run in {out_dir} "
                f"has trained; resume with --steps {saved['step']} or more"
            )
        optimizer.load_state_dict(saved["optimizer"])
        set_rng_state(saved["rng"])
        done = Progress(**{k: saved[k] for k in asdict(done) if k in saved})
        objective.load_extra_state(saved)
        best_weights = saved["best_model"]
        if saved.get("carry") is not None:
            carry = map_state(lambda t: t.to(device), state_from_plain(saved["carry"]))
            carry = world.take_rows(carry, cfg.batch_size)  # saved whole: this rank's rows
    record = {**config.to_dict(), "task_info": task.info(), "plugins": loaded_plugins()}
    record["threads"] = threads
    if world.distributed:
        record["processes"] = world.size
    folder.start(record, resume)
    measure = partial(
        evaluate,
        model,
        task,
        batch_size=cfg.eval_batch_size,
        device=str(device),
        beam_size=cfg.beam_size,
        length_penalty=cfg.length_penalty,
        progress=progress and folder.main,
    )

    def check_weights() -> None:
        fault = weights_fault(model, done.step)
        if fault is not None:
            raise NonFiniteError(fault)

    def checkpoint() -> None:
        check_weights()
        state = {**asdict(done), "optimizer": optimizer.state_dict(), "rng": rng_state()}
        whole = world.gather_rows(carry)  # the global batch's state: resumable by any world
        state["carry"] = state_to_plain(map_state(lambda t: t.cpu(), whole))
        state["best_model"] = best_weights
        folder.save_checkpoint(model, {**state, **objective.extra_state(), "clip": cfg.clip})

    def log_train() -> None:
        """One `train` line of metrics.jsonl: the window of steps since the last one."""
        lr = optimizer.param_groups[0]["lr"]
        train_line = {**window.pop(), "lr": lr, **objective.stats(done.step)}
        folder.log(
            {"step": done.step, "split": "train", **train_line, "train_time_s": done.train_time_s}
        )

    def validate() -> float:
        nonlocal best_weights
        check_weights()
        metrics = world.broadcast(measure("val"))  # every rank measures; rank 0's figures rule
        for watcher in watchers:
            watcher(metrics)
        folder.log(
            {"step": done.step, "split": "val", **metrics, "train_time_s": done.train_time_s}
        )
        value = metrics[task.main_metric]
        if _better(value, done.best, task.higher_is_better):
            done.best, done.best_step, done.evals_since_best = value, done.step, 0
            # kept for the summary unless a watcher may have changed the model since
            done.best_metrics = None if watchers else metrics
            best_weights = model_weights(model)
            folder.save_best(best_weights)
        else:
            done.evals_since_best += 1
        return float(value)

    previewer = ModelEvaluator(model, device=str(device))

    def show_preview(value: float) -> None:
        """The task's view of the model now (a language model's sample), shown and kept."""
        text = task.preview(previewer)
        if text is not None:
            folder.add_sample(done.step, text)
            if progress and folder.main:
                head = f"--- step {done.step}, val {task.main_metric} {value:.4f}: sample ---"
                bar.write(f"{head}\n{text}")

    hooks: list[Callable[[float], None]] = [
        hook for m in model.modules() if callable(hook := getattr(m, "on_progress", None))
    ]
    watchers: list[Callable[[dict[str, float]], None]] = [
        hook for m in model.modules() if callable(hook := getattr(m, "on_validation", None))
    ]
    window = _Window()
    step_fn = wrap(objective, device)  # DistributedDataParallel under torchrun
    rows = world.rows(cfg.batch_size)
    stopped, last_eval, start_step = "steps", done.step, done.step
    total = None if cfg.steps == UNBOUNDED_STEPS else cfg.steps  # time alone ends the run
    bar = tqdm(total=total, initial=done.step, disable=not (progress and folder.main))
    set_learning_rate(optimizer, cfg, done.step, done.train_time_s, done.lr_scale)
    model.train()
    try:
        while done.step < cfg.steps:
            if cfg.max_time is not None and done.train_time_s >= cfg.max_time:
                stopped = "max_time"
                break
            tick = time.perf_counter()
            for hook in hooks:
                hook(run_progress(done.step, done.train_time_s, cfg))
            batch = task.train_batch(done.step, cfg.batch_size)
            if world.distributed:
                batch = batch_rows(batch, rows)
            batch = batch_to(batch, device)
            if task.stateful and task.resets_state(done.step, cfg.batch_size):
                carry = None
            with autocast(device, cfg.bf16):
                result = step_fn(batch, carry if task.stateful else None, done.step)
            if task.stateful:  # truncated BPTT: carry the state in float32, its graph cut
                carry = map_state(
                    lambda t: t.float() if t.dtype == torch.bfloat16 else t,
                    detach_state(result.state),
                )
            optimizer.zero_grad(set_to_none=True)
            scale = batch_length(batch) * world.size if cfg.loss_reduction == "sum" else 1
            (result.total * scale).backward()
            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.clip or math.inf))
            loss, whole = world.mean([float(result.loss.detach()), float(result.total.detach())])
            fault = step_fault(done.step + 1, loss, whole, grad_norm)
            if fault is not None:
                optimizer.zero_grad(set_to_none=True)
                if cfg.on_nan != "skip" or done.skipped_steps >= cfg.nan_skips:
                    raise NonFiniteError(fault)
                check_weights()  # non-finite weights cannot be skipped past
                done.skipped_steps += 1
                done.lr_scale /= 2
                carry = None
                window.skipped += 1
            else:
                optimizer.step()
            done.step += 1
            done.train_time_s += world.from_main(time.perf_counter() - tick)
            set_learning_rate(optimizer, cfg, done.step, done.train_time_s, done.lr_scale)

            clipped = cfg.clip is not None and grad_norm > cfg.clip
            done.n_clipped += int(clipped)
            done.grad_norms.append(grad_norm)
            if fault is None:
                window.add(loss, grad_norm, clipped)
            bar.update(1)
            if done.step % 10 == 0 or done.step == cfg.steps:
                bar.set_postfix(loss=f"{loss:.4f}", gnorm=f"{grad_norm:.2f}")
            if done.step % cfg.eval_every == 0 or done.step == cfg.steps:
                log_train()
                value = validate()
                last_eval = done.step
                show_preview(value)
                checkpoint()
                bar.set_description(f"val {task.main_metric} {value:.4f}")
                if cfg.patience is not None and done.evals_since_best >= cfg.patience:
                    stopped = "early_stopping"
                    break
        if done.best_step < 0 or (
            stopped == "max_time" and done.step > start_step and last_eval < done.step
        ):
            if last_eval < done.step:
                log_train()  # the steps since the last evaluation still get their train line
            validate()  # the time budget ran out between evaluations: the last weights count
        checkpoint()
    except NonFiniteError as exc:
        bar.close()
        _record_fault(folder, config, done, str(exc))
        raise
    bar.close()

    folder.load_best(model)
    # the best weights' val metrics were measured when they were saved: not measured again
    final = {"val": done.best_metrics or measure("val")}
    final["test"] = final["val"] if task.test_is_val else measure("test")
    folder.log({"step": done.best_step, "split": "test", **final["test"]})
    folder.close()
    summary = {
        "task": config.task,
        "model": getattr(config.model, "name", type(config.model).__name__),
        "params": sum(p.numel() for p in model.parameters()),
        "steps": done.step,
        "best_step": done.best_step,
        "stopped": stopped,
        "wall_time_s": round(done.train_time_s, 3),
        "main_metric": task.main_metric,
        "baseline": task.baseline,
        "higher_is_better": task.higher_is_better,
        "metrics": final,
        "clipped_fraction": done.n_clipped / max(1, done.step),
        "device": str(device),
        "threads": threads,
        **({"processes": world.size} if world.distributed else {}),
        "beam_size": cfg.beam_size,
        **describe(model),
        **({"note": note} if (note := getattr(task, "note", None)) else {}),
    }
    folder.write_summary(summary)
    return summary


class _Window:
    """Means of the training figures between two ``train`` lines of ``metrics.jsonl``."""

    def __init__(self) -> None:
        self.loss = self.grad_norm = self.grad_max = 0.0
        self.n = self.clipped = self.skipped = 0

    def add(self, loss: float, grad_norm: float, clipped: bool) -> None:
        self.loss += loss
        self.grad_norm += grad_norm
        self.grad_max = max(self.grad_max, grad_norm)
        self.n += 1
        self.clipped += int(clipped)

    def pop(self) -> dict[str, float]:
        n = max(1, self.n)
        figures = {
            "loss": self.loss / n,
            "grad_norm": self.grad_norm / n,
            "grad_norm_max": self.grad_max,
            "clipped_fraction": self.clipped / n,
            **({"skipped_steps": self.skipped} if self.skipped else {}),
        }
        self.__init__()  # type: ignore[misc]
        return figures


def _record_fault(folder: RunFolder, config: RunConfig, done: Progress, fault: str) -> None:
    """``summary.json`` of a run stopped by a numerical fault (nothing else is written: the
    folder keeps its last finite checkpoint)."""
    folder.close()
    folder.write_summary(
        {
            "task": config.task,
            "model": getattr(config.model, "name", type(config.model).__name__),
            "steps": done.step,
            "best_step": done.best_step,
            "stopped": "diverged",
            "fault": fault,
            "skipped_steps": done.skipped_steps,
            "metrics": None,
        }
    )


def _better(value: float, best: float | None, higher_is_better: bool) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if higher_is_better else value < best
