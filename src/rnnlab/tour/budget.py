"""How big the tour's experiments are: ``quick`` (CI, <= 5 minutes), ``full`` (<= 30
minutes on one CPU thread) and ``tiny`` (the tests: seconds).

Every training run is bounded twice: ``steps`` (so a rerun of the printed command gives the
same number) and ``max_time`` seconds (so the tour's wall time is bounded on a slow or
loaded machine; a run cut by time says so on the page).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """Sizes and time limits of the tour's experiments.

    Attributes:
        name: ``quick``, ``full`` or ``tiny``.
        steps: training steps of one run (a claim scales it by its own factor).
        max_time: seconds of training of one run at most (``--max-time``).
        hidden: the base hidden size of the recurrent models.
        rows: sequences in a probe batch or an exposure-bias measurement.
        seeds: seeds of the claims that give error bars (at least 3).
        length: the base sequence length / delay of the synthetic tasks.
    """

    name: str
    steps: int
    max_time: float
    hidden: int
    rows: int
    seeds: int
    length: int

    def __post_init__(self) -> None:
        if self.seeds < 3:
            raise ValueError(f"a budget needs at least 3 seeds for error bars, got {self.seeds}")
        for name in ("steps", "hidden", "rows", "length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"budget {name} must be a positive integer, got {value!r}")
        if not self.max_time > 0:
            raise ValueError(f"budget max_time must be > 0 seconds, got {self.max_time!r}")

    def scaled(self, factor: float) -> int:
        """``steps * factor``, at least 2."""
        return max(2, round(self.steps * factor))

    def seconds(self, factor: float) -> float:
        """``max_time * factor``, at least 1 s."""
        return max(1.0, round(self.max_time * factor, 1))


TINY = Budget("tiny", steps=3, max_time=2.0, hidden=8, rows=8, seeds=3, length=8)
QUICK = Budget("quick", steps=60, max_time=5.0, hidden=32, rows=64, seeds=3, length=20)
FULL = Budget("full", steps=600, max_time=32.0, hidden=64, rows=256, seeds=3, length=40)
BUDGETS = {b.name: b for b in (TINY, QUICK, FULL)}
