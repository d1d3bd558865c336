"""The tour: one measured experiment per claim of the lecture on recurrent networks, written
as one HTML page (``rnnlab tour``)."""

from rnnlab.tour.budget import BUDGETS, FULL, QUICK, TINY, Budget
from rnnlab.tour.claims import CLAIMS, Claim, select_claims
from rnnlab.tour.run import ClaimOutcome, run_tour

__all__ = [
    "BUDGETS",
    "CLAIMS",
    "FULL",
    "QUICK",
    "TINY",
    "Budget",
    "Claim",
    "ClaimOutcome",
    "run_tour",
    "select_claims",
]
