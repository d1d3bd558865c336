"""mnist1d-gen: quantisation, splits, the closed-form baseline, and the fidelity classifier."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.models import RNNConfig, build_model
from rnnlab.tasks import MNIST1DTask, TaskOptions, build_task
from rnnlab.tasks.mnist1d_gen import MNIST1DGenTask, class_condition, histogram_bits
from rnnlab.tasks.quantise import UniformQuantiser
from rnnlab.tasks.rocket import RocketClassifier
from rnnlab.tasks.spec import TaskSpec
from rnnlab.training.evaluate import evaluate


@pytest.fixture(scope="module")
def task() -> MNIST1DGenTask:
    built = build_task("mnist1d-gen")
    assert isinstance(built, MNIST1DGenTask)
    return built


def test_quantise_round_trip_within_half_a_level() -> None:
    q = UniformQuantiser(-2.0, 3.0, 20)
    g = torch.Generator().manual_seed(0)
    v = torch.cat(
        [torch.rand(10_000, generator=g, dtype=torch.float64) * 5 - 2, torch.tensor([-2.0, 3.0])]
    )
    tokens = q.quantise(v)
    assert tokens.dtype == torch.long and int(tokens.min()) == 0 and int(tokens.max()) == 19
    err = (q.dequantise(tokens).double() - v).abs()
    assert float(err.max()) <= q.width / 2 + 1e-6
    centres = q.dequantise(torch.arange(20))
    assert torch.equal(q.quantise(centres), torch.arange(20))  # centres map to themselves
    assert q.quantise(torch.tensor([-9.0, 9.0])).tolist() == [0, 19]  # clipped to the ends
    assert UniformQuantiser.from_json(q.to_json()) == q


def test_quantiser_errors() -> None:
    with pytest.raises(ValueError, match="low < high"):
        UniformQuantiser(1.0, 1.0, 4)
    with pytest.raises(ValueError, match="levels must be a positive integer"):
        UniformQuantiser(0.0, 1.0, 0)
    q = UniformQuantiser(0.0, 1.0, 4)
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 4\), got \[0, 4\]"):
        q.dequantise(torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="NaN"):
        q.quantise(torch.tensor([float("nan")]))


def test_histogram_bits_against_a_direct_count() -> None:
    g = torch.Generator().manual_seed(3)
    L, T = 4, 3
    train, groups = torch.randint(L, (50, T), generator=g), torch.randint(2, (50,), generator=g)
    test, test_groups = torch.randint(L, (20, T), generator=g), torch.randint(2, (20,), generator=g)
    total = 0.0
    for row, grp in zip(test.tolist(), test_groups.tolist(), strict=True):
        for t, v in enumerate(row):
            column = [
                r[t] for r, k in zip(train.tolist(), groups.tolist(), strict=True) if k == grp
            ]
            total += -math.log2((column.count(v) + 0.5) / (len(column) + L / 2))
    expected = total / test.numel()
    assert histogram_bits(train, groups, test, test_groups, L) == pytest.approx(expected)


def test_layout_splits_baseline_and_metadata(task: MNIST1DGenTask) -> None:
    classify = MNIST1DTask()
    for split in ("train", "val", "test"):
        data, ref = task.split(split), classify.split(split)
        assert data.x.shape == (len(ref), 10) and data.y.shape == (len(ref), 40)
        assert torch.equal(data.x.argmax(-1), ref.y)  # the same rows as the classifier task
        assert torch.equal(data.y, task.quantiser.quantise(ref.x.squeeze(-1)))
    assert (task.kind, task.input_size, task.output_size) == ("vec2seq", 10, 32)
    assert task.main_metric == "bpc" and not task.higher_is_better
    # the class helps a history-free model a little; both are far below log2(32) = 5 bits
    assert 3.0 < task.baseline < task.unconditional_bits < 5.0
    spec = task.metadata["generation"]
    assert spec["condition"] == "class" and spec["length"] == 40
    assert UniformQuantiser.from_json(spec["quantiser"]) == task.quantiser


def test_fidelity_classifier_is_accurate_on_real_signals(task: MNIST1DGenTask) -> None:
    assert task.real_fidelity("val") > 0.9  # about 0.95
    assert task.real_fidelity("test") > 0.9
    assert "accurate on the real quantised test signals" in task.note
    # ... and it is not fooled by noise or by wrong labels
    g = torch.Generator().manual_seed(0)
    test = task.split("test")
    noise = task.quantiser.dequantise(torch.randint(32, (1000, 40), generator=g))
    assert task.fidelity(noise, test.x.argmax(-1)) < 0.2
    values = task.quantiser.dequantise(test.y)
    assert task.fidelity(values, (test.x.argmax(-1) + 1) % 10) < 0.05


def test_fidelity_of_a_model_is_deterministic(task: MNIST1DGenTask) -> None:
    torch.manual_seed(0)
    model = build_model(RNNConfig(cell="gru", hidden_size=8), TaskSpec("vec2seq", 10, 32))
    first = evaluate(model, task, "val")
    assert first == evaluate(model, task, "val")
    assert 0.0 <= first["fidelity"] <= 1.0


def test_rocket_and_condition_errors() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        RocketClassifier().predict(torch.zeros(2, 10))
    with pytest.raises(ValueError, match=r"series must have shape \(N, T\)"):
        RocketClassifier().fit(torch.zeros(3), torch.zeros(3), 2)
    with pytest.raises(ValueError, match=r"class 10 is out of range; expected 0\.\.9"):
        class_condition(torch.tensor([3, 10]))
    assert class_condition(torch.tensor([2])).tolist() == [[0, 0, 1] + [0] * 7]
    with pytest.raises(ValueError, match="does not apply"):
        build_task("mnist1d-gen", TaskOptions(T=5))
