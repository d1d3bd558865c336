"""Best of N seeds: ``rnnlab train --seeds N`` (Sukhbaatar et al. 2015 kept the best of 10
runs on validation).

Seed ``K`` (``K = seed .. seed + N - 1``) seeds the parameters and every training RNG; the
task (its data, ``val``/``test`` splits and training stream) is the base seed's for all,
so the ``val`` figures compare like with like. The choice reads ``val`` only, never
``test``: the best main metric (the task's direction), ties to the lower ``val`` loss, then
to the lower seed. The run folder stays one unit::

    RUN/seeds/seed-K/     each seed's own run folder (resumable on its own)
    RUN/seeds.json        seed, val metric, val loss, test metric, training time, steps;
                          the choice
    RUN/config.json ...   a copy of the chosen seed's files (not trainer.pt), so that
                          ``rnnlab eval``, ``rnnlab.load``, ``diagnose`` and ``report``
                          read RUN as the chosen run; summary.json adds ``seed_choice``

A resume (``resume=True``) finishes the seeds in ``RUN/seeds/``: a finished seed (its
``summary.json``) is kept, an interrupted one resumed from its checkpoint, a missing one
trained; then the choice is made again. A seed whose training diverged is recorded and
never chosen.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
from typing import Any

from rnnlab._io import read_json, write_json
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import build_task
from rnnlab.training.config import RunConfig
from rnnlab.training.loop import train
from rnnlab.training.numerics import NonFiniteError

SEEDS_DIR, SEEDS_FILE = "seeds", "seeds.json"
_NOT_COPIED = {"trainer.pt", "tensorboard"}  # the chosen seed's checkpoint stays in seeds/


def seed_folder(out_dir: str | Path, seed: int) -> Path:
    """The run folder of seed ``seed`` inside the seeds run ``out_dir``."""
    return Path(out_dir) / SEEDS_DIR / f"seed-{seed}"


def first_seed_folder(out_dir: str | Path) -> Path:
    """The run folder of the lowest seed in the seeds run ``out_dir`` that wrote its
    configuration (what a resume reads the run's configuration from)."""
    out = Path(out_dir)
    if (out / "config.json").is_file() and not (out / SEEDS_FILE).is_file():
        raise ValueError(f"run {out} was trained with one seed; resume it without --seeds")
    folders = []
    for path in (out / SEEDS_DIR).glob("seed-*"):
        number = path.name.removeprefix("seed-")
        if number.isdigit() and (path / "config.json").is_file():
            folders.append((int(number), path))
    if not folders:
        raise ValueError(f"nothing to resume: {out_dir} holds no seeds run ({SEEDS_DIR}/seed-K)")
    return min(folders)[1]


def choose_seed(rows: list[dict[str, Any]], higher_is_better: bool) -> dict[str, Any]:
    """The row of ``rows`` (``seed``, ``val``, ``val_loss``; ``val`` ``None`` for a seed
    that diverged) with the best ``val``: highest or lowest as ``higher_is_better``, ties
    to the lower ``val_loss``, then to the lower seed."""
    usable = [r for r in rows if r.get("val") is not None and not math.isnan(r["val"])]
    if not usable:
        raise ValueError("no seed finished with a val figure (all diverged); nothing to choose")
    sign = -1.0 if higher_is_better else 1.0

    def key(r: dict[str, Any]) -> tuple[float, float, int]:
        loss = r.get("val_loss")
        return (sign * r["val"], math.inf if loss is None else loss, r["seed"])

    return min(usable, key=key)


def train_seeds(
    config: RunConfig,
    out_dir: str | Path,
    seeds: int,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    task: Task | None = None,
) -> dict[str, Any]:
    """Train ``config`` with ``seeds`` seeds (``config.train.seed`` and on) into
    ``out_dir/seeds/seed-K``, copy the one best on ``val`` into ``out_dir`` and return its
    summary (with ``seed_choice``). See the module docstring for the folder and the rules.
    A fresh run (not ``resume``) into a folder that holds seeds replaces them only with
    ``overwrite``.

    Example::

        summary = train_seeds(config, "runs/babi2", 10)  # runs/babi2 is then seed K's run
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a whole number >= 1, got {seeds!r}")
    out = Path(out_dir)
    _check_folder(out, seeds, resume, overwrite)
    task = task or build_task(config.task, config.task_options)
    base = config.train.seed
    rows = []
    for seed in range(base, base + seeds):
        rows.append(_train_one(config, task, seed_folder(out, seed), seed, resume, progress))
        _write_table(out, rows, task, None)
    chosen = choose_seed(rows, task.higher_is_better)
    _copy_run(seed_folder(out, chosen["seed"]), out)
    summary = dict(read_json(out / "summary.json"))
    summary["seed_choice"] = {
        "seeds": [r["seed"] for r in rows],
        "chosen": chosen["seed"],
        "by": f"val {task.main_metric}",
        "table": SEEDS_FILE,
    }
    write_json(out / "summary.json", summary)
    _write_table(out, rows, task, chosen["seed"])
    return summary


def _check_folder(out: Path, seeds: int, resume: bool, overwrite: bool) -> None:
    table = out / SEEDS_FILE
    if resume:
        if (out / "config.json").is_file() and not table.is_file():
            raise ValueError(f"run {out} was trained with one seed; resume it without --seeds")
        if table.is_file():
            done = len(read_json(table)["rows"])
            if seeds < done:
                raise ValueError(f"run {out} holds {done} seeds; resume it with --seeds {done}+")
        elif not (out / SEEDS_DIR).is_dir():
            raise ValueError(f"nothing to resume: {out} holds no seeds run")
    elif (out / SEEDS_DIR).is_dir():
        if not overwrite:
            raise ValueError(
                f"{out} already holds seeds ({SEEDS_DIR}/); use --resume or --overwrite"
            )
        shutil.rmtree(out / SEEDS_DIR)


def _train_one(
    config: RunConfig, task: Task, folder: Path, seed: int, resume: bool, progress: bool
) -> dict[str, Any]:
    """Seed ``seed``'s row of the table, training (or resuming) it unless it finished."""
    summary_file = folder / "summary.json"
    one = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
    if resume and summary_file.is_file():
        summary = read_json(summary_file)
    else:
        again = resume and (folder / "trainer.pt").is_file()
        try:
            summary = train(one, folder, resume=again, progress=progress, task=task)
        except NonFiniteError as exc:
            return {"seed": seed, "val": None, "diverged": str(exc), "folder": _rel(folder)}
    if summary.get("metrics") is None:  # diverged in an earlier call
        return {"seed": seed, "val": None, "diverged": summary.get("fault"), "folder": _rel(folder)}
    metric = task.main_metric
    val, test = summary["metrics"]["val"], summary["metrics"]["test"]
    return {
        "seed": seed,
        "val": val[metric],
        "val_loss": val.get("loss"),
        "test": test[metric],
        "train_time_s": summary["wall_time_s"],
        "steps": summary["steps"],
        "folder": _rel(folder),
    }


def _rel(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}"


def _write_table(out: Path, rows: list[dict[str, Any]], task: Task, chosen: int | None) -> None:
    write_json(
        out / SEEDS_FILE,
        {
            "metric": task.main_metric,
            "higher_is_better": task.higher_is_better,
            "chosen_by": "val",
            "chosen": chosen,
            "rows": rows,
        },
    )


def _copy_run(source: Path, out: Path) -> None:
    """The chosen seed's files into ``out`` (a run folder of their own), checkpoint aside;
    stale files of an earlier choice (or run) that the chosen run lacks are removed."""
    (out / "trainer.pt").unlink(missing_ok=True)  # a resume goes through seeds/
    for stale in ("best.safetensors", "last.safetensors", "samples.txt", "clipping.json"):
        if not (source / stale).exists():
            (out / stale).unlink(missing_ok=True)
    for path in sorted(source.iterdir()):
        if path.name in _NOT_COPIED or not path.is_file():
            continue
        shutil.copy2(path, out / f".{path.name}.tmp")
        (out / f".{path.name}.tmp").replace(out / path.name)
