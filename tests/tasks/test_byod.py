from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rnnlab.tasks import IGNORE_INDEX, TaskOptions, UserDataTask, build_task
from rnnlab.tasks.base import Batch


def save(tmp_path: Path, name: str = "d.npz", **arrays: Any) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def write(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def rows(*batches: Batch) -> Counter[bytes]:
    return Counter(b.x[i].numpy().tobytes() for b in batches for i in range(len(b)))


def error(kind: type[Exception], data: str, match: str) -> str:
    with pytest.raises(kind, match=match) as info:
        UserDataTask(data=data)
    assert "\n" not in str(info.value)
    return str(info.value)


RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 7, 3)).astype(np.float32)


def test_npz_classify_splits(tmp_path: Path) -> None:
    data = save(tmp_path, x=X, y=np.arange(50) % 4)
    task = build_task("data", TaskOptions(data=data, seed=1))
    assert isinstance(task, UserDataTask)
    assert (task.kind, task.input_size, task.output_size) == ("classify", 3, 4)
    assert task.main_metric == "accuracy" and task.higher_is_better and task.baseline == 0.25
    assert task.options() == {"data": data}
    train, val, test = (task.split(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (40, 5, 5)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert train.lengths is None
    whole = Batch(torch.from_numpy(X), torch.zeros(50))
    assert rows(train, val, test) == rows(whole)  # a partition
    other = UserDataTask(data=data, seed=2)
    assert torch.equal(other.split("test").x, test.x)  # test fixed whatever the seed
    assert not torch.equal(other.split("val").x, val.x)
    assert torch.equal(UserDataTask(data=data, seed=1).split("val").x, val.x)
    assert torch.equal(task.train_batch(7, 8).x, task.train_batch(7, 8).x)


def test_npz_two_dim_inputs_and_regression(tmp_path: Path) -> None:
    x2 = X[..., 0]
    task = UserDataTask(data=save(tmp_path, x=x2, y=RNG.normal(size=50)))
    assert (task.kind, task.input_size, task.output_size) == ("regress", 1, 1)
    assert task.split("test").x.shape == (5, 7, 1) and task.split("test").y.shape == (5, 1)
    assert task.main_metric == "mse" and not task.higher_is_better and task.baseline is None
    task = UserDataTask(data=save(tmp_path, "k.npz", x=x2, y=RNG.normal(size=(50, 2))))
    assert task.output_size == 2 and task.split("val").y.dtype == torch.float32


def test_npz_tag_masks_padding(tmp_path: Path) -> None:
    y = np.arange(50 * 7).reshape(50, 7) % 5
    lengths = np.arange(50) % 7 + 1
    task = UserDataTask(data=save(tmp_path, x=X, y=y, lengths=lengths))
    assert (task.kind, task.output_size, task.baseline) == ("tag", 5, None)
    for s in ("train", "val", "test"):
        b = task.split(s)
        assert b.lengths is not None
        for i in range(len(b)):
            n = int(b.lengths[i])
            assert (b.y[i, n:] == IGNORE_INDEX).all() and (b.y[i, :n] >= 0).all()


def test_npz_ready_made_splits_and_kind(tmp_path: Path) -> None:
    data = save(
        tmp_path,
        x=X[:30],
        y=np.arange(30) % 3,
        x_val=X[30:40, :5],  # T may differ between splits
        y_val=np.arange(10) % 3,
        lengths_val=np.full(10, 4),
        x_test=X[40:],
        y_test=np.arange(10) % 3 + 2,  # the largest label sets C
    )
    task = UserDataTask(data=data)
    assert [len(task.split(s)) for s in ("train", "val", "test")] == [30, 10, 10]
    assert task.output_size == 5 and "from the file" in task.note
    assert task.split("val").lengths is not None and task.split("train").lengths is None
    ints_as_floats = save(
        tmp_path, "f.npz", x=X, y=(np.arange(50) % 2).astype(float), kind="classify"
    )
    assert UserDataTask(data=ints_as_floats).kind == "classify"


def test_csv_classify_variable_lengths(tmp_path: Path) -> None:
    lines = ["label,v1,v2,v3"] + [
        f"{i % 3},{i},{i + 0.5}" + (",2" if i % 2 else "") for i in range(20)
    ]
    task = UserDataTask(data=write(tmp_path, "\n".join(lines) + "\n"))
    assert (task.kind, task.input_size, task.output_size) == ("classify", 1, 3)
    splits = [task.split(s) for s in ("train", "val", "test")]
    b = Batch(*(torch.cat(t) for t in zip(*splits, strict=True)))
    assert b.x.shape == (20, 3, 1)
    assert b.lengths is not None and set(b.lengths.tolist()) == {2, 3}
    short = b.lengths == 2
    assert (b.x[short, 2] == 0).all() and (b.x[~short, 2] == 2).all()
    assert sorted(b.x[:, 0, 0].tolist()) == list(range(20))  # every row, once


def test_csv_regression_labels(tmp_path: Path) -> None:
    text = "".join(f"{i * 0.1},{i},{i}\n" for i in range(20))
    task = UserDataTask(data=write(tmp_path, text))
    assert task.kind == "regress" and task.output_size == 1 and task.split("train").lengths is None


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        (dict(x=X[None], y=np.zeros(50, int)), r"x of shape \(1, 50, 7, 3\)"),
        (dict(x=X, y=np.zeros(49, int)), r"y of shape \(49,\); expected N=50"),
        (dict(x=X, y=np.arange(50) - 1), "label -1; expected ints 0..C-1"),
        (dict(x=X, y=np.zeros((50, 6), int)), r"expected \(N, T\) = \(50, 7\)"),
        (dict(x=X, y=np.full((50, 7), 0.5), kind="tag"), "non-integer labels for tag"),
        (dict(x=X, y=np.zeros(50, int), kind="sort"), "kind 'sort'"),
        (dict(x=X, y=np.zeros(50, int), labels=np.zeros(50)), "unexpected array 'labels'"),
        (
            dict(x=X, y=np.zeros(50, int), lengths=np.full(50, 8)),
            "length 8; expected lengths in 1..7",
        ),
        (dict(x=X, y=np.zeros(50, int), x_val=X), "y_val is missing"),
        (dict(x=X, y=np.zeros(50, int), x_val=X[..., :2], y_val=np.zeros(50, int)), "D=2"),
        (dict(x=X[:5], y=np.zeros(5, int)), "N=5 sequences is too few"),
        (dict(x=np.full((50, 7), np.nan), y=np.zeros(50, int)), "NaN"),
        (dict(x=X), "x and y go together; y is missing"),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict[str, Any], match: str) -> None:
    message = error(ValueError, save(tmp_path, **arrays), match)
    assert "d.npz" in message


def test_file_errors(tmp_path: Path) -> None:
    error(FileNotFoundError, str(tmp_path / "missing.npz"), "missing.npz' not found")
    error(ValueError, write(tmp_path, "1,2", name="d.txt"), "ends in '.txt'; expected .npz or .csv")
    error(ValueError, write(tmp_path, "not a zip", name="z.npz"), "z.npz: cannot read as .npz")
    error(ValueError, write(tmp_path, "0,1,2\n1,x,3\n"), r"d.csv:2: 'x' is not a number")
    error(ValueError, write(tmp_path, "0,1\n1\n"), "d.csv:2: a label and no values")
    error(ValueError, write(tmp_path, "label,v\n"), "no data rows")
    with pytest.raises(ValueError, match="needs a file"):
        build_task("data")
    with pytest.raises(ValueError, match="does not apply"):
        build_task("data", TaskOptions(data="x.npz", download=True))
