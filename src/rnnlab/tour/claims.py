"""The registry of the tour's claims, in the lecture's order: one function
``(budget, out_dir) -> ClaimSection`` per claim."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rnnlab.tour.architecture import architecture
from rnnlab.tour.budget import Budget
from rnnlab.tour.conditional import conditional
from rnnlab.tour.exposure import exposure
from rnnlab.tour.generative import generative
from rnnlab.tour.gradients import gradients
from rnnlab.tour.memory import memory
from rnnlab.tour.multiscale import multiscale
from rnnlab.tour.section import ClaimSection
from rnnlab.tour.unfolding import unfolding
from rnnlab.tour.unitary import unitary

ClaimFunction = Callable[[Budget, Path], ClaimSection]


@dataclass(frozen=True)
class Claim:
    """One claim of the lecture: its number, a short key (folder and JSON name), its
    title and the function measuring it."""

    number: int
    key: str
    title: str
    measure: ClaimFunction


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "unfolding", "Unfolding and parameter sharing", unfolding),
    Claim(2, "generative", "Generative RNNs", generative),
    Claim(3, "conditional", "Conditional models", conditional),
    Claim(4, "exposure", "Teacher forcing's compounding error", exposure),
    Claim(
        5, "architecture", "Depth, bidirectionality and multiplicative interactions", architecture
    ),
    Claim(6, "multiscale", "Multiscale recurrences", multiscale),
    Claim(7, "gradients", "Vanishing and exploding gradients", gradients),
    Claim(8, "unitary", "Unitary RNNs and their limits", unitary),
    Claim(9, "memory", "Non-parametric memory and attention", memory),
)


def select_claims(only: str | None) -> tuple[Claim, ...]:
    """The claims named in ``only`` (``"1,4"`` or keys ``"exposure,memory"``; ``None``: all)."""
    if not only:
        return CLAIMS
    chosen = []
    for word in only.split(","):
        word = word.strip()
        match = [c for c in CLAIMS if word in (str(c.number), c.key)]
        if not match:
            names = ", ".join(f"{c.number}/{c.key}" for c in CLAIMS)
            raise ValueError(f"unknown claim {word!r}; expected one of {names}")
        chosen.extend(match)
    return tuple(dict.fromkeys(chosen))
