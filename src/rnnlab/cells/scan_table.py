"""Which kernel :func:`rnnlab.cells.linear_scan.linear_scan` runs, by size and device.

A table of measured points ``(device, M, T) -> (method, chunk)``, ``M`` the work per step
(batch times state width) and ``T`` the length; :func:`choose` takes the point nearest in
``(log M, log T)`` on the same device type (the loop where the device has none).

The built-in rows (:data:`DEFAULT_TABLE`) are the fastest kernels measured on a 2-core
CPU, one thread, forward + backward (``benchmarks/RESULTS.md``). ``rnnlab bench --select
scan --calibrate`` measures this machine and writes ``scan_table.json`` into the cache
folder (``~/.cache/rnnlab``, or ``$RNNLAB_CACHE``); that file, when present, replaces the
built-in rows of the devices it measured.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

TABLE_FILE = "scan_table.json"


@dataclass(frozen=True)
class ScanChoice:
    """One measured point: on ``device`` at work ``M`` per step and length ``T``, the
    fastest kernel was ``method`` (with chunk length ``chunk`` for ``chunked``)."""

    device: str
    M: int
    T: int
    method: str
    chunk: int | None = None


# measured on the 2-core CPU, one thread (benchmarks/RESULTS.md "Linear scans"); no other
# device was measured, so elsewhere the loop runs until a calibration says otherwise
DEFAULT_TABLE: tuple[ScanChoice, ...] = (
    ScanChoice("cpu", 256, 256, "tree"),
    ScanChoice("cpu", 256, 1024, "chunked"),
    ScanChoice("cpu", 256, 4096, "chunked"),
    ScanChoice("cpu", 4096, 256, "chunked"),
    ScanChoice("cpu", 4096, 1024, "chunked"),
    ScanChoice("cpu", 4096, 4096, "chunked"),
    ScanChoice("cpu", 65536, 256, "loop"),
)

_loaded: dict[str, tuple[ScanChoice, ...]] = {}


def cache_folder() -> Path:
    """``$RNNLAB_CACHE`` when set, else ``~/.cache/rnnlab`` (where downloads go too)."""
    env = os.environ.get("RNNLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnlab"


def table_path(folder: Path | None = None) -> Path:
    return (folder or cache_folder()) / TABLE_FILE


def read_table(path: Path) -> tuple[ScanChoice, ...]:
    """The rows of a calibration file; a one-line error when it is not one."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return tuple(ScanChoice(**row) for row in rows)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a scan calibration table: {exc}") from None


def write_table(rows: list[ScanChoice], folder: Path | None = None) -> Path:
    """Write ``rows`` as the calibration table in ``folder`` (the cache folder by default)
    and use them from now on; returns the file."""
    path = table_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    _loaded.clear()
    return path


def active_table() -> tuple[ScanChoice, ...]:
    """The built-in rows, those of measured devices replaced by the calibration file's."""
    key = str(table_path())
    if key not in _loaded:
        rows = DEFAULT_TABLE
        path = Path(key)
        if path.exists():
            try:
                measured = read_table(path)
            except ValueError:
                measured = ()  # an unreadable file: keep the built-in rows
            devices = {r.device for r in measured}
            rows = tuple(r for r in DEFAULT_TABLE if r.device not in devices) + measured
        _loaded.clear()
        _loaded[key] = rows
    return _loaded[key]


def choose(M: int, T: int, device: str) -> tuple[str, int | None]:
    """``(method, chunk)`` for work ``M`` per step and length ``T`` on ``device`` (a device
    type such as ``cpu``): the nearest measured point's, in ``(log M, log T)``."""
    rows = [r for r in active_table() if r.device == device]
    if not rows:
        return "loop", None
    best = min(rows, key=lambda r: math.hypot(math.log(r.M / M), math.log(r.T / T)))
    chunk = best.chunk if best.chunk is not None and best.chunk <= T else None
    return best.method, chunk
