from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.tasks import MNIST1DTask, TaskOptions, build_task
from rnnlab.tasks import mnist1d as mnist1d_module
from rnnlab.tasks.base import Batch


def rows(*batches: Batch) -> Counter[bytes]:
    return Counter(b.x[i].numpy().tobytes() for b in batches for i in range(len(b)))


def test_generation_restores_global_rng_and_caches_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(mnist1d_module._IN_MEMORY, mnist1d_module.MNIST1D_SEED, raising=False)
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    arrays = mnist1d_module.load_mnist1d(cache_dir=tmp_path)  # generates: reseeds globally
    assert (np.random.random(), random.random()) == expected  # ... but restores the state
    files = list((tmp_path / "mnist1d").iterdir())
    assert len(files) == 1 and files[0].name.endswith("seed42.npz")

    def no_generation(seed: int) -> None:
        raise AssertionError("should have been read from disk")

    del mnist1d_module._IN_MEMORY[mnist1d_module.MNIST1D_SEED]
    monkeypatch.setattr(mnist1d_module, "generate_mnist1d", no_generation)
    again = mnist1d_module.load_mnist1d(cache_dir=tmp_path)
    assert again.keys() == arrays.keys()
    assert all(np.array_equal(again[k], arrays[k]) for k in arrays)
    assert mnist1d_module.load_mnist1d(cache_dir=tmp_path) is again  # in memory now
    assert not again["x"].flags.writeable


def test_shapes_splits_and_metadata(tmp_path: Path) -> None:
    task = build_task("mnist1d", TaskOptions(cache_dir=str(tmp_path), seed=1))
    assert isinstance(task, MNIST1DTask)
    train, val, test = (task.split(s) for s in ("train", "val", "test"))
    assert (train.x.shape, val.x.shape, test.x.shape) == (
        (3600, 40, 1),
        (400, 40, 1),
        (1000, 40, 1),
    )
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert set(torch.cat([train.y, val.y, test.y]).tolist()) == set(range(10))
    assert (task.kind, task.input_size, task.output_size) == ("classify", 1, 10)
    assert task.main_metric == "accuracy" and task.higher_is_better and task.baseline == 0.1
    assert task.defaults["schedule"] == "cosine" and task.defaults["weight_decay"] == 1e-2
    assert task.options() == {"cache_dir": str(tmp_path)}
    assert "400" in task.note

    arrays = mnist1d_module.load_mnist1d()
    assert rows(train, val) == rows(Batch(torch.tensor(arrays["x"]).unsqueeze(-1), train.y))
    other = MNIST1DTask(cache_dir=str(tmp_path), seed=2)
    assert torch.equal(other.split("test").x, test.x)
    assert not torch.equal(other.split("val").x, val.x)
    assert torch.equal(MNIST1DTask(seed=1).split("val").x, val.x)

    batch = task.train_batch(3, 64)
    assert batch.x.shape == (64, 40, 1)
    assert torch.equal(batch.x, task.train_batch(3, 64).x)  # a pure function of the step
    out = torch.zeros(len(test), 10)
    assert task.metrics(out, test)["accuracy"] == pytest.approx(float((test.y == 0).float().mean()))


def test_rejects_options_that_do_not_apply() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        build_task("mnist1d", TaskOptions(data="somewhere"))
