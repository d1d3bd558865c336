"""One line on whether a trained run beat its task's baseline."""

from __future__ import annotations

from typing import Any


def baseline_verdict(summary: dict[str, Any]) -> str | None:
    """One line comparing the test figure with the task's baseline (a model that has not
    learned: chance accuracy, the memoryless cross-entropy, predicting the mean), saying
    which direction is better; none when the task has no baseline."""
    baseline = summary.get("baseline")
    if baseline is None:
        return None
    metric = summary["main_metric"]
    value = summary["metrics"]["test"][metric]
    higher = summary.get("higher_is_better", False)
    direction = "higher" if higher else "lower"
    better = value > baseline if higher else value < baseline
    if better:
        return (
            f"better than the baseline: test {metric} {value:.4g} vs {baseline:.4g} "
            f"({direction} is better)"
        )
    return (
        f"NOT better than the baseline: test {metric} {value:.4g} vs {baseline:.4g} "
        f"({direction} is better): too short to learn the task; train longer "
        "(--steps, --max-time)"
    )
