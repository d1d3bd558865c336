"""Files written atomically and JSON read with one-line errors (the ground floor: imports
no other part of rnnlab).

JSON written here is strict JSON: a non-finite float (NaN, +-Inf, which Python's ``json``
would write as the non-standard ``NaN``/``Infinity``) is written as ``null``
(:func:`json_safe`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


class CheckpointError(ValueError):
    """A checkpoint or run folder that cannot be read."""


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:  # on disk before the rename, so the new name never points at a lost file
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_safe(data: Any) -> Any:
    """``data`` with every non-finite float (NaN, +-Inf, in dicts, lists and tuples) replaced
    by ``None``, so that it serialises as strict JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(v) for v in data]
    return data


def json_line(data: Any) -> str:
    """``data`` as one line of strict JSON (non-finite floats as ``null``)."""
    return json.dumps(json_safe(data), allow_nan=False)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` atomically as strict, indented JSON (non-finite floats as ``null``)."""
    text = json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing {path.name} in {path.parent} (not an rnnlab run folder?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"corrupt {path}: not valid JSON ({exc.msg})") from None
