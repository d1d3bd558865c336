"""Where the tour finds the shared data sets (bAbI, Tiny Shakespeare): optional; a claim
that needs one it cannot find says so on the page and measures what it can."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "RNNLAB_DATA"


def data_root() -> Path | None:
    """The shared data folder: ``$RNNLAB_DATA``, else ``../shared/data`` when it exists."""
    given = os.environ.get(DATA_ENV)
    if given:
        return Path(given)
    default = Path("..") / "shared" / "data"
    return default if default.is_dir() else None
