"""Bring your own data: a classification, regression or tagging dataset from a file.

``.npz`` files hold arrays:

* ``x``: ``(N, T, D)`` or ``(N, T)`` (one feature) numbers, the inputs;
* ``y``: the targets, whose dtype and shape give the kind: integer ``(N,)`` -> classify,
  float ``(N,)`` or ``(N, K)`` -> regress, integer ``(N, T)`` -> tag (one label per step);
* ``lengths`` (optional): ``(N,)`` ints in ``1..T``, the real length of each row;
* ``kind`` (optional): ``"classify"``, ``"regress"`` or ``"tag"``, overriding the
  inference (then integral float labels are accepted);
* ``x_val``, ``y_val``, ``lengths_val``, ``x_test``, ``y_test``, ``lengths_test``
  (optional): ready-made splits.

``.csv`` files hold one univariate sequence per row: the label first, then the values;
rows may differ in length (shorter rows are zero-padded and their lengths recorded) and
the first row is a header when its first field is not a number. Labels written as
integers (``0``, ``1``, ...) make a classification dataset; any other number (``0.5``,
``1.0``) makes a regression dataset.

Class labels must be ``0..C-1`` (``C`` = largest label + 1). Tag targets of padded steps
become ``IGNORE_INDEX``. Splits that are not given are carved out of ``x``: 10% for
``test`` with a constant seed (the same for every run) and 10% for ``val`` with the run's
seed; training uses the remaining 80%.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from rnnlab.tasks.base import IGNORE_INDEX, Batch, DatasetTask
from rnnlab.tasks.splits import (
    TEST_SPLIT_SEED,
    TEST_STREAM,
    VAL_STREAM,
    describe_sizes,
    hold_out,
)

DATA_KINDS = ("classify", "regress", "tag")  # the kinds a user data file can hold

VAL_FRACTION = 0.1
TEST_FRACTION = 0.1
SPLITS = ("", "_val", "_test")  # npz key suffixes of train, val, test
NPZ_KEYS = frozenset({"kind"} | {f"{k}{s}" for k in ("x", "y", "lengths") for s in SPLITS})

Arrays = dict[str, np.ndarray]  # "x", "y" and maybe "lengths" of one split


def _is_int(a: np.ndarray) -> bool:
    return bool(np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.bool_))


def _is_number(a: np.ndarray) -> bool:
    return _is_int(a) or bool(np.issubdtype(a.dtype, np.floating))


# -- reading files ------------------------------------------------------------------------
def read_npz(path: Path) -> tuple[dict[str, Arrays], str | None]:
    """The splits present in an ``.npz`` file (``""``, ``"_val"``, ``"_test"``) and its
    optional ``kind``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            raw = {k: f[k] for k in f.files}
    except ValueError as e:
        if "allow_pickle" in str(e) and not zipfile.is_zipfile(path):
            raise ValueError(
                f"{path}: cannot read as .npz (not a zip archive of arrays; rnnlab never "
                "unpickles); expected arrays x and y saved with numpy.savez"
            ) from None
        if "allow_pickle" in str(e):
            raise ValueError(
                f"{path}: cannot read as .npz (it holds pickled Python objects, which rnnlab "
                "never loads); expected numeric arrays x and y"
            ) from None
        raise ValueError(f"{path}: cannot read as .npz ({e}); expected arrays x and y") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read as .npz ({e}); expected arrays x and y") from None
    unknown = sorted(set(raw) - NPZ_KEYS)
    if unknown:
        raise ValueError(
            f"{path}: unexpected array {unknown[0]!r}; expected {', '.join(sorted(NPZ_KEYS))}"
        )
    kind = None
    if "kind" in raw:
        kind = str(raw["kind"])
        if kind not in DATA_KINDS:
            raise ValueError(f"{path}: kind {kind!r}, expected one of {', '.join(DATA_KINDS)}")
    splits: dict[str, Arrays] = {}
    for s in SPLITS:
        if f"x{s}" not in raw and f"y{s}" not in raw:
            if s == "":
                raise ValueError(f"{path}: no arrays x and y; expected x (N, T[, D]) and y")
            continue
        for k in ("x", "y"):
            if f"{k}{s}" not in raw:
                raise ValueError(f"{path}: x{s} and y{s} go together; {k}{s} is missing")
        splits[s] = {k: raw[f"{k}{s}"] for k in ("x", "y", "lengths") if f"{k}{s}" in raw}
    return splits, kind


def _csv_number(text: str, path: Path, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: {text!r} is not a number; expected numbers") from None


def read_csv(path: Path) -> Arrays:
    """``x (N, T, 1)`` zero-padded, ``y (N,)`` int64 or float32, ``lengths (N,)`` if the
    rows differ in length, from a csv of ``label, v_1, ..., v_T`` rows."""
    labels: list[str] = []
    rows: list[list[float]] = []
    with open(path, newline="") as f:
        for line, fields in enumerate(csv.reader(f), start=1):
            fields = [v.strip() for v in fields]
            while fields and fields[-1] in ("", "nan", "NaN"):  # trailing padding
                fields.pop()
            if not fields:
                continue
            if line == 1 and not _looks_numeric(fields[0]):
                continue  # header
            if len(fields) < 2:
                raise ValueError(f"{path}:{line}: a label and no values; expected label, values")
            _csv_number(fields[0], path, line)
            labels.append(fields[0])
            rows.append([_csv_number(v, path, line) for v in fields[1:]])
    if not rows:
        raise ValueError(f"{path}: no data rows; expected rows of label, v_1, ..., v_T")
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    x = np.zeros((len(rows), int(lengths.max()), 1), dtype=np.float32)
    for i, r in enumerate(rows):
        x[i, : len(r), 0] = r
    y: np.ndarray
    if all(_is_int_literal(v) for v in labels):
        y = np.array([int(v) for v in labels], dtype=np.int64)
    else:
        y = np.array([float(v) for v in labels], dtype=np.float32)
    out = {"x": x, "y": y}
    if (lengths != x.shape[1]).any():
        out["lengths"] = lengths
    return out


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_int_literal(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


# -- checking arrays ----------------------------------------------------------------------
def infer_kind(y: np.ndarray, where: str) -> str:
    """``classify`` for integer ``(N,)``, ``tag`` for integer ``(N, T)``, ``regress`` for
    float ``(N,)`` or ``(N, K)``."""
    if _is_number(y) and y.ndim in (1, 2):
        if _is_int(y):
            return "classify" if y.ndim == 1 else "tag"
        return "regress"
    raise ValueError(
        f"{where}: y of shape {y.shape}, dtype {y.dtype}; expected numbers (N,), (N, K) or (N, T)"
    )


def _inputs(x: np.ndarray, where: str) -> np.ndarray:
    if not _is_number(x) or x.ndim not in (2, 3):
        raise ValueError(
            f"{where}: x of shape {x.shape}, dtype {x.dtype}; expected numbers (N, T, D) or (N, T)"
        )
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: x holds NaN or infinite values; expected finite numbers")
    return x[..., None] if x.ndim == 2 else x


def _labels(y: np.ndarray, kind: str, where: str) -> np.ndarray:
    if not _is_number(y):
        raise ValueError(f"{where}: y of dtype {y.dtype}; expected integer labels 0..C-1")
    if not _is_int(y) and not (np.isfinite(y).all() and np.array_equal(y, np.round(y))):
        raise ValueError(f"{where}: non-integer labels for {kind}; expected ints 0..C-1")
    y = y.astype(np.int64)
    real = y[y != IGNORE_INDEX] if kind == "tag" else y
    if real.size and int(real.min()) < 0:
        raise ValueError(f"{where}: label {int(real.min())}; expected ints 0..C-1")
    return y


def _check_lengths(lengths: np.ndarray, n: int, T: int, where: str) -> np.ndarray:
    if not _is_int(lengths) or lengths.shape != (n,):
        raise ValueError(
            f"{where}: lengths of shape {lengths.shape}, {lengths.dtype}; expected ints ({n},)"
        )
    if n and (lengths.min() < 1 or lengths.max() > T):
        bad = int(lengths.min() if lengths.min() < 1 else lengths.max())
        raise ValueError(f"{where}: length {bad}; expected lengths in 1..{T}")
    return lengths.astype(np.int64)


def make_batch(arrays: Arrays, kind: str, where: str) -> Batch:
    """Check one split's arrays against ``kind`` and turn them into a :class:`Batch`."""
    x = _inputs(arrays["x"], f"{where} x")
    n, T = x.shape[:2]
    y = arrays["y"]
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"{where}: y of shape {y.shape}; expected N={n} rows like x")
    if kind == "classify":
        if y.ndim != 1:
            raise ValueError(f"{where}: y of shape {y.shape}; expected (N,) class labels")
        y = _labels(y, kind, where)
    elif kind == "tag":
        if y.shape != (n, T):
            raise ValueError(f"{where}: y of shape {y.shape}; expected (N, T) = {(n, T)} tags")
        y = _labels(y, kind, where)
    else:
        if not _is_number(y) or y.ndim not in (1, 2):
            raise ValueError(f"{where}: y of shape {y.shape}; expected (N,) or (N, K) numbers")
        y = y.astype(np.float32).reshape(n, -1)
        if not np.isfinite(y).all():
            raise ValueError(f"{where}: y holds NaN or infinite values; expected finite numbers")
    lengths = None
    if "lengths" in arrays:
        lengths = _check_lengths(arrays["lengths"], n, T, where)
        if kind == "tag":
            y = y.copy()
            y[np.arange(T)[None, :] >= lengths[:, None]] = IGNORE_INDEX  # padded steps
    return Batch(
        torch.from_numpy(np.ascontiguousarray(x)),
        torch.from_numpy(np.ascontiguousarray(y)),
        None if lengths is None else torch.from_numpy(lengths),
    )


# -- the task -----------------------------------------------------------------------------
class UserDataTask(DatasetTask):
    """A dataset from a ``.npz`` or ``.csv`` file (see the module docstring for formats).

    ``kind``, ``input_size`` (``D``) and ``output_size`` (classes ``C``, or ``K`` targets)
    follow from the file. Metrics: accuracy for classify and tag, MSE for regress. Baseline:
    chance accuracy ``1/C`` for classify, none otherwise.
    """

    name: ClassVar[str] = "data"
    description: ClassVar[str] = "your own data: classify/regress/tag sequences from .npz or .csv"
    defaults: ClassVar[dict[str, Any]] = dict(
        model="gru",
        hidden_size=128,
        num_layers=1,
        batch_size=64,
        steps=2000,
        lr=1e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=200,
    )

    def __init__(self, data: str | None = None, seed: int = 0) -> None:
        if data is None:
            raise ValueError("task 'data' needs a file; expected --data PATH (.npz or .csv)")
        path = Path(data).expanduser()
        suffix = path.suffix.lower()
        if suffix not in (".npz", ".csv"):
            raise ValueError(
                f"data file {str(path)!r} ends in {path.suffix!r}; expected .npz or .csv"
            )
        if not path.is_file():
            raise FileNotFoundError(f"data file {str(path)!r} not found; expected a .npz or .csv")
        self.data = data
        self.seed = seed
        if suffix == ".npz":
            raw, kind = read_npz(path)
        else:
            raw, kind = {"": read_csv(path)}, None
        kind = kind or infer_kind(raw[""]["y"], f"{path}")
        names = {"": "", "_val": " (val)", "_test": " (test)"}
        batches = {s: make_batch(a, kind, f"{path}{names[s]}") for s, a in raw.items()}
        self.kind = kind
        self._check_features(batches, path)
        self.input_size = int(batches[""].x.shape[-1])
        if kind == "regress":
            self.output_size = int(batches[""].targets.shape[-1])
            self.main_metric, self.higher_is_better, self.baseline = "mse", False, None
        else:
            labels = torch.cat([b.targets.flatten() for b in batches.values()])
            labels = labels[labels != IGNORE_INDEX]
            self.output_size = int(labels.max()) + 1 if labels.numel() else 1
            self.main_metric, self.higher_is_better = "accuracy", True
            self.baseline = 1.0 / self.output_size if kind == "classify" else None
        train, val, test = self._carve(batches, path)
        self._set_data(train, val, test)
        given = [n for s, n in (("_val", "val"), ("_test", "test")) if s in raw]
        self.note = f"{path.name}: {kind}, {describe_sizes(train, val, test)}" + (
            f"; {' and '.join(given)} from the file" if given else "; val and test carved out"
        )

    def _check_features(self, batches: dict[str, Batch], path: Path) -> None:
        D, K = batches[""].x.shape[-1], batches[""].targets.shape[-1]
        for s, b in batches.items():  # T may differ between splits, D (and K) may not
            if b.x.shape[-1] != D:
                raise ValueError(f"{path}: x{s} has D={b.x.shape[-1]} features; expected D={D}")
            if self.kind == "regress" and b.targets.shape[-1] != K:
                raise ValueError(
                    f"{path}: y{s} has K={b.targets.shape[-1]} targets; expected K={K}"
                )

    def _carve(self, batches: dict[str, Batch], path: Path) -> tuple[Batch, Batch, Batch]:
        train = batches[""]
        n = len(train)
        n_val = 0 if "_val" in batches else round(n * VAL_FRACTION)
        n_test = 0 if "_test" in batches else round(n * TEST_FRACTION)
        if ("_val" not in batches and n_val < 1) or ("_test" not in batches and n_test < 1):
            raise ValueError(
                f"{path}: N={n} sequences is too few to carve out val and test; "
                "expected at least 10, or x_val/y_val and x_test/y_test in the file"
            )
        test = batches.get("_test")
        if test is None:
            train, test = hold_out(train, n_test, TEST_SPLIT_SEED, TEST_STREAM)
        val = batches.get("_val")
        if val is None:
            train, val = hold_out(train, n_val, self.seed, VAL_STREAM)
        return train, val, test

    def options(self) -> dict[str, Any]:
        return {"data": self.data}
