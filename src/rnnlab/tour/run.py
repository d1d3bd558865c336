"""Running the tour: every claim in turn, in this process on one thread; a claim that fails
becomes a section saying so (the tour goes on); the page ``index.html`` and ``results.json``
(each claim's numbers and seconds, strict JSON) in the output folder."""

from __future__ import annotations

import dataclasses
import json
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnlab._io import atomic_write
from rnnlab.report.page import Page, Section, write_page
from rnnlab.tour.budget import Budget
from rnnlab.tour.claims import CLAIMS, Claim
from rnnlab.tour.section import ClaimSection


@dataclass
class ClaimOutcome:
    """What one claim gave: its section, whether it failed, its seconds."""

    claim: Claim
    section: Section
    seconds: float
    error: str | None = None
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def strict_json(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` and tuples by lists (what
    ``json.dumps(allow_nan=False)`` accepts)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # a tensor or numpy scalar
        return strict_json(value.item())
    return str(value)


def measure_claim(claim: Claim, budget: Budget, out_dir: Path) -> ClaimOutcome:
    """Run one claim into ``out_dir``; an exception becomes a failed section."""
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        section = claim.measure(budget, out_dir)
    except Exception as exc:  # the tour reports a failed claim and goes on
        seconds = time.perf_counter() - start
        message = (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        )
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        failed = Section(
            title=f"{claim.number}. {claim.title} (FAILED)",
            summary=f"This claim's experiment failed after {seconds:.1f} s: {message}",
            facts=(("error", message),),
            preformatted=(("traceback (last frames)", trace),),
            anchor=f"claim-{claim.number}",
        )
        return ClaimOutcome(claim, failed, seconds, error=message)
    seconds = time.perf_counter() - start
    numbers = dict(section.numbers) if isinstance(section, ClaimSection) else {}
    timed = dataclasses.replace(section, facts=(*section.facts, ("seconds", f"{seconds:.1f}")))
    return ClaimOutcome(claim, timed, seconds, numbers=numbers)


def run_tour(
    budget: Budget,
    out_dir: str | Path,
    claims: Sequence[Claim] = CLAIMS,
    log: Callable[[str], None] = print,
) -> list[ClaimOutcome]:
    """Measure ``claims`` under ``budget`` into ``out_dir`` (runs under ``out_dir/runs``)
    and write ``index.html`` and ``results.json`` there."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    outcomes = []
    start = time.perf_counter()
    try:
        for claim in claims:
            log(f"claim {claim.number} ({claim.key}) ...")
            outcome = measure_claim(claim, budget, out / "runs" / claim.key)
            status = "ok" if outcome.ok else f"FAILED: {outcome.error}"
            log(f"claim {claim.number} ({claim.key}): {outcome.seconds:.1f} s, {status}")
            outcomes.append(outcome)
    finally:
        torch.set_num_threads(threads)
    total = time.perf_counter() - start
    write_results(outcomes, budget, total, out / "results.json")
    write_page(tour_page(outcomes, budget, total), out / "index.html")
    log(f"tour: {total:.1f} s; {out / 'index.html'}")
    return outcomes


def write_results(
    outcomes: Sequence[ClaimOutcome], budget: Budget, total: float, path: Path
) -> None:
    data = {
        "budget": dataclasses.asdict(budget),
        "total_seconds": total,
        "torch": torch.__version__,
        "claims": [
            {
                "number": o.claim.number,
                "key": o.claim.key,
                "title": o.claim.title,
                "status": "ok" if o.ok else "failed",
                "seconds": o.seconds,
                "error": o.error,
                "numbers": o.numbers,
            }
            for o in outcomes
        ],
    }
    text = json.dumps(strict_json(data), indent=2, allow_nan=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))


def tour_page(outcomes: Sequence[ClaimOutcome], budget: Budget, total: float) -> Page:
    failed = [o.claim.number for o in outcomes if not o.ok]
    status = f"claims {', '.join(map(str, failed))} failed" if failed else "every claim ran"
    command = "rnnlab tour --quick" if budget.name == "quick" else "rnnlab tour"
    return Page(
        title="rnnlab tour: the lecture's claims, measured on this machine",
        sections=[o.section for o in outcomes],
        intro=(
            f"One experiment per claim, run by `{command}` "
            f"({budget.name} budget: base {budget.steps} steps and {budget.max_time:g} s per "
            f"run, hidden {budget.hidden}, {budget.seeds} seeds where there are error bars) in "
            f"{total:.0f} s on one CPU thread; {status}. Each section gives the claim, the "
            "command that reproduces its number (run folders under runs/), the figure, the "
            "number, and the published figure and the one in benchmarks/RESULTS.md. Every run "
            "is bounded by its steps and by --max-time; learning-rate and annealing schedules "
            "follow whichever of the two is further along, so a rerun of a command can differ "
            "in the last digits, and a run cut by time says so."
        ),
        footer=f"rnnlab tour, torch {torch.__version__}",
    )
