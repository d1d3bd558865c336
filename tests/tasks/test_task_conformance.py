"""Conformance suite: every registered task.

The tasks are read from the registry at collection time, so a task registered with
:func:`rnnlab.tasks.registry.register_task` joins every test here automatically (built with
its default options unless :data:`RECIPES` says how to build a small one). Each test checks
one promise of :class:`rnnlab.tasks.base.Task` that the trainer, the run folder or
evaluation relies on: batches are NamedTuples of batch-first tensors in the layout of the
task's kind, the training stream is a pure function of ``(seed, step)``, ``val``/``test``
are fixed by the seed, the spec survives JSON, and a fresh model gets a finite loss, finite
figures from :meth:`~rnnlab.tasks.base.Task.evaluate` and a baseline to compare with.

Tasks that need data read the shared data folder (``tests/tasks/conftest.py``) and skip
with the reason when it is missing; ``data`` reads a tiny ``.npz`` of each kind it accepts
and ``charlm`` a small text file, both written to a temporary folder, where the MNIST-1D
cache goes too (``HOME`` points there as well, so nothing is written to the real one).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from rnnlab.memory import GGNNConfig, MemN2NConfig
from rnnlab.models import RNNConfig, build_model
from rnnlab.tasks.babi import BabiBatch
from rnnlab.tasks.base import IGNORE_INDEX, GeneratedTask, Task
from rnnlab.tasks.graphs import GraphBatch
from rnnlab.tasks.registry import TaskOptions, build_task, task_names
from rnnlab.tasks.spec import KINDS, TaskSpec
from rnnlab.tasks.tokens import EOS
from rnnlab.tasks.translate import TranslationTask
from rnnlab.training.evaluate import evaluate

NAMES = task_names()
B = 4  # rows of a training batch

# ------------------------------------------------------------------------ how to build


@dataclass(frozen=True)
class Files:
    """Where the data of the tasks that read files are."""

    tmp: Path  # written by this module: the text, the .npz files, the caches
    shared: Path  # the shared read-only data (may be missing)

    def shared_file(self, relative: str) -> str:
        path = self.shared / relative
        if not path.exists():
            pytest.skip(f"shared data {relative} not found in {self.shared}")
        return str(path)


# small options where a task's default is big, and the data of the tasks that need some;
# a task not listed is built with its defaults
RECIPES: dict[str, Callable[[Files, str], TaskOptions]] = {
    "copy": lambda f, _: TaskOptions(T=12),
    "adding": lambda f, _: TaskOptions(T=20),
    "hmm": lambda f, _: TaskOptions(T=16),
    "reverse": lambda f, _: TaskOptions(T=8),
    "sort": lambda f, _: TaskOptions(T=8),
    "ntm-copy": lambda f, _: TaskOptions(T=5),
    "ntm-repeat-copy": lambda f, _: TaskOptions(T=3),
    "ntm-recall": lambda f, _: TaskOptions(T=3),
    "charlm": lambda f, _: TaskOptions(data=str(f.tmp / "corpus.txt"), T=16),
    "shakespeare": lambda f, _: TaskOptions(data=f.shared_file("tinyshakespeare.txt"), T=64),
    "smnist": lambda f, _: TaskOptions(data=f.shared_file("mnist")),
    "pmnist": lambda f, _: TaskOptions(data=f.shared_file("mnist")),
    "mnist1d": lambda f, _: TaskOptions(cache_dir=str(f.tmp / "cache")),
    "mnist1d-gen": lambda f, _: TaskOptions(cache_dir=str(f.tmp / "cache")),
    # Tatoeba with the tutorial's short filter: ~10k pairs, about a second to build
    "translate": lambda f, _: TaskOptions(
        data=f.shared_file("translation/eng-fra.txt.gz"), short=True
    ),
    "data": lambda f, variant: TaskOptions(data=str(f.tmp / f"{variant}.npz")),
    "babi": lambda f, _: TaskOptions(data=f.shared_file("babi"), task_id="2"),
    "babi-path": lambda f, _: TaskOptions(data=f.shared_file("babi")),
    "selective-copy": lambda f, _: TaskOptions(T=24, extras={"tokens": 4, "vocab": 6}),
    "mqar": lambda f, _: TaskOptions(T=24, extras={"pairs": 4, "vocab": 16}),
}
# tasks with a batch type of their own, and the model family that reads it (the others get
# a small GRU)
OWN_BATCH_MODELS: dict[str, Any] = {
    "babi": MemN2NConfig(hidden_size=8, hops=2),
    "graph-reach": GGNNConfig(hidden_size=6, prop_steps=2, output="graph"),
    "babi-path": GGNNConfig(hidden_size=6, prop_steps=2, output="graph", edge_types=4),
    "graph-path": GGNNConfig(hidden_size=6, prop_steps=2, output="node"),
}
# the kinds of user data file ``data`` accepts: one case each
DATA_VARIANTS = ("classify", "regress", "tag")

# tasks whose splits do not depend on the seed, or only some of them (by default a generated
# task draws both, and a dataset task draws val and keeps a fixed test for every seed)
SEEDED_SPLITS: dict[str, tuple[str, ...]] = {
    "charlm": (),  # val is the end of the text; test is val or a file
    "shakespeare": (),
    "translate": ("val",),  # test: the fixed Tatoeba test groups
}
# tasks whose fixed splits are fixed in their text but not in their ids: the vocabulary is
# built from the training pairs, and those depend on the seed (val is held out of them)
FIXED_AS_TEXT = {"translate"}

# tasks that document no baseline, and why
NO_BASELINE = {
    "reverse": "no reference exact-match score (chance is ~0)",
    "sort": "no reference exact-match score (chance is ~0)",
    "dates": "no reference exact-match score (chance is ~0)",
    "translate": "no reference BLEU",
    "data[regress]": "user data: only classification has one (chance accuracy)",
    "data[tag]": "user data: only classification has one (chance accuracy)",
    "graph-path": "chance depends on the out-degree of s",
}

CASES = [
    case for n in NAMES for case in ([f"data[{v}]" for v in DATA_VARIANTS] if n == "data" else [n])
]


def split_case(case: str) -> tuple[str, str]:
    """``"data[tag]"`` -> ``("data", "tag")``; ``"copy"`` -> ``("copy", "")``."""
    name, _, variant = case.partition("[")
    return name, variant.rstrip("]")


def _write_files(folder: Path) -> None:
    """The tiny inputs of ``charlm`` and ``data``, in ``folder``."""
    rng = np.random.default_rng(0)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "."]
    text = " ".join(rng.choice(words, size=600).tolist()) + "\n"
    (folder / "corpus.txt").write_text(text, encoding="utf-8")
    N, T, D = 60, 7, 3
    x = rng.normal(size=(N, T, D)).astype(np.float32)
    lengths = rng.integers(2, T + 1, size=N)
    lengths[0] = T
    np.savez(folder / "classify.npz", x=x, y=rng.integers(0, 3, size=N), lengths=lengths)
    np.savez(folder / "regress.npz", x=x, y=rng.normal(size=(N, 2)).astype(np.float32))
    np.savez(folder / "tag.npz", x=x, y=rng.integers(0, 4, size=(N, T)), lengths=lengths)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Files]:
    tmp = tmp_path_factory.mktemp("task_conformance")
    _write_files(tmp)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp / "home"))  # default caches (~/.cache/rnnlab) go here
        yield Files(tmp, shared_data)


def make(case: str, files: Files, seed: int = 0) -> Task:
    """A fresh task of ``case`` through the registry (as a run builds it)."""
    name, variant = split_case(case)
    recipe = RECIPES.get(name)
    options = recipe(files, variant) if recipe else TaskOptions()
    with warnings.catch_warnings():
        # smnist/pmnist warn that only the 10k test files are there; that is expected here
        warnings.simplefilter("ignore", UserWarning)
        return build_task(name, TaskOptions(**{**options.__dict__, "seed": seed}))


_BUILT: dict[tuple[str, int], Task] = {}


@pytest.fixture
def built(files: Files) -> Callable[[str, int], Task]:
    """``built(case, seed)``: one shared instance per case and seed, for tests that only
    read (fresh instances come from :func:`make`)."""

    def get(case: str, seed: int = 0) -> Task:
        if (case, seed) not in _BUILT:
            _BUILT[(case, seed)] = make(case, files, seed)
        return _BUILT[(case, seed)]

    return get


# ----------------------------------------------------------------------------- helpers


def leaves(batch: Any) -> list[Tensor | None]:
    """The fields of a (possibly nested) NamedTuple batch, depth first."""
    out: list[Tensor | None] = []
    for value in batch:
        if isinstance(value, tuple):
            out += leaves(value)
        else:
            out.append(value)
    return out


def same(a: Any, b: Any) -> bool:
    """Two batches of the same type with equal tensors (``None`` in the same fields)."""
    if type(a) is not type(b):
        return False
    for x, y in zip(leaves(a), leaves(b), strict=True):
        if (x is None) != (y is None):
            return False
        if x is not None and (x.shape != y.shape or x.dtype != y.dtype or not torch.equal(x, y)):
            return False
    return True


def check_batch(batch: Any, rows: int | None = None) -> int:
    """``batch`` is a NamedTuple whose leaves are CPU tensors or ``None``, batch dimension
    first and the same in all; returns the number of rows."""
    assert isinstance(batch, tuple) and hasattr(batch, "_fields"), type(batch)
    sizes = set()
    tensors = [t for t in leaves(batch) if t is not None]
    assert tensors, "a batch holds at least one tensor"
    for field, t in zip(batch._fields, leaves(batch), strict=False):
        assert t is None or isinstance(t, Tensor), f"{field}: {type(t).__name__}"
    for t in tensors:
        assert isinstance(t, Tensor)
        assert t.dim() >= 1 and t.device.type == "cpu"
        if t.is_floating_point():
            assert bool(torch.isfinite(t).all())
        sizes.add(int(t.shape[0]))
    assert len(sizes) == 1, f"leaves disagree on the batch dimension: {sizes}"
    n = sizes.pop()
    assert n >= 1
    if rows is not None:
        assert n == rows
    return n


def check_babi_layout(batch: BabiBatch, spec: TaskSpec) -> None:
    """The layout of :class:`~rnnlab.tasks.babi.BabiBatch`."""
    n, S, _ = batch.story.shape
    assert batch.story.dtype == batch.query.dtype == torch.long
    assert int(batch.story.max()) < spec.input_size and int(batch.query.max()) < spec.input_size
    assert batch.y.shape == (n,) and int(batch.y.max()) < spec.output_size
    assert bool(((batch.y >= 0) | (batch.y == IGNORE_INDEX)).all())  # unseen test answers
    assert int(batch.lengths.min()) >= 1 and int(batch.lengths.max()) <= S
    real = torch.arange(S) < batch.lengths.unsqueeze(1)
    assert bool((batch.story[~real] == 0).all()), "statements past lengths are nil"
    assert bool((batch.story[real][:, 0] != 0).all()), "every real statement has a word"
    assert batch.support.shape == (n, S) and not bool(batch.support[~real].any())


def check_graph_layout(batch: GraphBatch, spec: TaskSpec) -> None:
    """The layout of :class:`~rnnlab.tasks.graphs.GraphBatch`."""
    n, N, A = batch.annotations.shape
    assert spec.input_size == A and batch.mask.shape == (n, N)
    assert batch.adjacency.shape[0] == n and batch.adjacency.shape[2:] == (N, N)
    pad = ~batch.mask
    assert float(batch.annotations[pad].abs().sum()) == 0
    assert float(batch.adjacency.sum(1)[pad.unsqueeze(2) | pad.unsqueeze(1)].sum()) == 0
    assert batch.y.shape == (n,) and int(batch.y.max()) < spec.output_size


def check_layout(batch: Any, spec: TaskSpec) -> None:
    """The layout of :class:`~rnnlab.tasks.base.Batch` by kind (tasks/base.py)."""
    if isinstance(batch, BabiBatch):
        return check_babi_layout(batch, spec)
    if isinstance(batch, GraphBatch):
        return check_graph_layout(batch, spec)
    x, y, lengths = batch.x, batch.y, getattr(batch, "lengths", None)
    n = x.shape[0]
    assert y is not None, "task batches carry their targets"
    if lengths is not None:
        assert lengths.shape == (n,) and lengths.dtype == torch.long
        assert int(lengths.min()) >= 1 and int(lengths.max()) <= x.shape[1]
    if spec.kind in ("classify", "regress", "tag"):
        assert x.dim() == 3 and x.is_floating_point() and x.shape[-1] == spec.input_size
    if spec.kind == "classify":
        assert y.shape == (n,) and y.dtype == torch.long
        assert int(y.min()) >= 0 and int(y.max()) < spec.output_size
    elif spec.kind == "regress":
        assert y.shape == (n, spec.output_size) and y.is_floating_point()
    elif spec.kind == "tag" and y.is_floating_point():
        # independent bits per step (the NTM tasks): 0/1 targets, a mask of scored steps
        mask = batch.mask
        assert y.shape == (*x.shape[:2], spec.output_size) and spec.prediction == "bits"
        assert bool(((y == 0) | (y == 1)).all())
        assert mask.shape == x.shape[:2] and mask.dtype == torch.bool and bool(mask.any())
        assert not bool(y[~mask].any()), "unscored steps have zero targets"
        if lengths is not None:  # padded steps are not scored
            pad = torch.arange(x.shape[1]) >= lengths.unsqueeze(1)
            assert not bool(mask[pad].any())
    elif spec.kind == "tag":
        assert y.shape == x.shape[:2] and y.dtype == torch.long
        real = y[y != IGNORE_INDEX]
        assert real.numel() and int(real.min()) >= 0 and int(real.max()) < spec.output_size
        if lengths is not None:  # padded steps are ignored
            pad = torch.arange(x.shape[1]) >= lengths.unsqueeze(1)
            assert bool((y[pad] == IGNORE_INDEX).all())
    elif spec.kind == "lm":
        assert x.dim() == 2 and x.dtype == torch.long and y.shape == x.shape
        assert y.dtype == torch.long
        assert int(x.min()) >= 0 and int(x.max()) < spec.input_size
        assert int(y.min()) >= 0 and int(y.max()) < spec.output_size
    elif spec.kind == "vec2seq":
        assert x.shape == (n, spec.input_size) and x.is_floating_point()
        assert y.dim() == 2 and y.dtype == torch.long
        assert int(y.min()) >= 0 and int(y.max()) < spec.output_size
    elif spec.kind == "seq2seq":
        assert x.dim() == 2 and x.dtype == torch.long and lengths is not None
        assert int(x.max()) < spec.input_size and int(x.min()) >= 0
        rows = torch.arange(n)
        assert bool((x[rows, lengths - 1] == EOS).all()), "every source ends with EOS"
        assert y.dim() == 2 and y.dtype == torch.long
        real = y != IGNORE_INDEX
        target_lengths = real.sum(1)
        assert bool((target_lengths >= 1).all())
        # real tokens first, then padding; each target ends with EOS
        assert torch.equal(real, torch.arange(y.shape[1]) < target_lengths.unsqueeze(1))
        assert bool((y[rows, target_lengths - 1] == EOS).all())
        assert int(y[real].max()) < spec.output_size and int(y[real].min()) >= 0
    else:
        raise AssertionError(f"unknown kind {spec.kind!r}")


def tiny_model(task: Task) -> torch.nn.Module:
    torch.manual_seed(0)
    default = RNNConfig(cell="gru", hidden_size=8, embedding_size=8)
    return build_model(OWN_BATCH_MODELS.get(task.name, default), task.spec)


def assert_finite_figures(result: dict[str, float]) -> None:
    assert result, "no figures"
    for key, value in result.items():
        assert isinstance(key, str)
        assert isinstance(value, float) and math.isfinite(value), f"{key}={value!r}"


# ------------------------------------------------------------------------------- tests

cases = pytest.mark.parametrize("case", CASES)


def test_registry_is_not_empty() -> None:
    assert {"copy", "adding", "charlm", "data"} <= set(NAMES)
    assert {split_case(c)[0] for c in CASES} == set(NAMES)
    assert set(RECIPES) <= set(NAMES), "a recipe for a task that is not registered"


@cases
def test_batches_are_namedtuples_of_batch_first_tensors(
    case: str, built: Callable[[str, int], Task]
) -> None:
    task = built(case, 0)
    for step, rows in ((0, B), (3, B + 1)):
        check_batch(task.train_batch(step, rows), rows)
    for name in ("val", "test"):
        check_batch(task.split(name))
    with pytest.raises(ValueError, match="split"):
        task.split("nonsense")


@cases
def test_batch_layout_matches_the_kind(case: str, built: Callable[[str, int], Task]) -> None:
    task = built(case, 0)
    assert task.spec.kind in KINDS
    check_layout(task.train_batch(0, B), task.spec)
    check_layout(task.split("val"), task.spec)
    check_layout(task.split("test"), task.spec)


@cases
def test_train_batch_is_a_pure_function_of_seed_and_step(
    case: str, files: Files, built: Callable[[str, int], Task]
) -> None:
    """The same batches from a fresh instance asked in another order (a resumed run), and
    different batches for other steps and other seeds."""
    task = built(case, 0)
    steps = [0, 1, 7, 1000]
    first = {s: task.train_batch(s, B) for s in steps}
    assert all(same(task.train_batch(s, B), first[s]) for s in steps), "not repeatable"
    fresh = make(case, files, 0)
    for s in reversed(steps):
        assert same(fresh.train_batch(s, B), first[s]), f"step {s} depends on history"
    assert not same(first[0], first[1]), "consecutive steps give the same batch"
    assert not same(built(case, 1).train_batch(0, B), first[0]), "the seed is ignored"


@cases
def test_stateful_batches_continue_their_streams(
    case: str, built: Callable[[str, int], Task]
) -> None:
    """A stateful task (the trainer carries the state between batches) resets at step 0,
    and a batch that does not reset continues each row where the last batch ended."""
    task = built(case, 0)
    if not task.stateful:
        return
    assert task.resets_state(0, B)
    continued = 0
    for step in range(1, 12):
        if task.resets_state(step, B):
            continue
        before, after = task.train_batch(step - 1, B), task.train_batch(step, B)
        assert torch.equal(after.x[:, 0], before.targets[:, -1])
        continued += 1
    assert continued, "no two consecutive batches of one pass"


@cases
def test_splits_are_fixed_by_the_seed(
    case: str, files: Files, built: Callable[[str, int], Task]
) -> None:
    """A rebuilt task has the same ``val`` and ``test``; another seed draws other ones where
    the task draws them, and keeps the others."""
    task = built(case, 0)
    # a fresh instance, read before it served any training batch
    fresh = make(case, files, 0)
    other = built(case, 1)
    name, _ = split_case(case)
    default = ("val", "test") if isinstance(task, GeneratedTask) else ("val",)
    seeded = SEEDED_SPLITS.get(name, default)
    for split in ("val", "test"):
        assert same(fresh.split(split), task.split(split)), f"{split} is not reproducible"
        assert same(task.split(split), task.split(split))
        if name in FIXED_AS_TEXT and split not in seeded:
            assert isinstance(task, TranslationTask) and isinstance(other, TranslationTask)
            assert other.references_text[split] == task.references_text[split]
            continue
        differs = not same(other.split(split), task.split(split))
        assert differs == (split in seeded), (
            f"{split} {'differs' if differs else 'does not differ'} between seeds"
        )


@cases
def test_spec_and_info_survive_json(case: str, built: Callable[[str, int], Task]) -> None:
    task = built(case, 0)
    spec = task.spec
    assert isinstance(spec, TaskSpec)
    assert TaskSpec.from_json(spec.to_json()) == spec
    assert TaskSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert (spec.kind, spec.input_size, spec.output_size) == (
        task.kind,
        task.input_size,
        task.output_size,
    )
    assert (spec.main_metric, spec.higher_is_better) == (task.main_metric, task.higher_is_better)
    assert isinstance(spec.higher_is_better, bool)
    info = json.loads(json.dumps(task.info(), allow_nan=False))
    assert TaskSpec.from_json(info) == spec  # what a run folder reads back
    assert isinstance(info["options"], dict)
    # the options rebuild the task (the seed is given separately)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # smnist without its training files
        rebuilt = type(task)(**task.options(), seed=getattr(task, "seed", 0))
    # a baseline may differ in its last bit from one build to the next: hmm's stationary
    # distribution comes from a LAPACK least-squares solve, not bitwise reproducible
    again = json.loads(json.dumps(rebuilt.info()))
    baseline, expected = again.pop("baseline"), info.pop("baseline")
    assert (baseline is None) == (expected is None)
    assert baseline is None or baseline == pytest.approx(expected, rel=1e-12)
    assert again == info


@cases
def test_loss_of_a_fresh_model_is_finite_and_differentiable(
    case: str, built: Callable[[str, int], Task]
) -> None:
    task = built(case, 0)
    model = tiny_model(task)
    batch = task.train_batch(0, B)
    out, _ = model(batch)
    loss = task.loss(out, batch)
    assert loss.dim() == 0 and bool(torch.isfinite(loss))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    assert any(bool(g.any()) for g in grads), "the loss does not reach the parameters"
    assert bool(torch.isfinite(task.dependency_loss(out, batch)))
    figures = task.metrics(out.detach(), batch)
    assert "loss" in figures
    assert_finite_figures(figures)


@cases
def test_evaluate_gives_finite_reproducible_figures(
    case: str, built: Callable[[str, int], Task]
) -> None:
    """``loss`` and the main metric among finite figures, the same in other chunks of rows;
    with a beam of 2 the figures of greedy decoding come as ``greedy_*`` (where the task
    decodes) and equal those of a beam of 1."""
    task = built(case, 0)
    model = tiny_model(task)
    result = evaluate(model, task, "val", batch_size=256)
    assert {"loss", task.main_metric} <= set(result)
    assert_finite_figures(result)
    assert model.training, "evaluate restores the model's mode"
    beam = evaluate(model, task, "val", batch_size=100, beam_size=2)
    assert_finite_figures(beam)
    assert set(beam) == set(result) | {f"greedy_{k}" for k in result if f"greedy_{k}" in beam}
    as_greedy = {k: beam.get(f"greedy_{k}", beam[k]) for k in result}
    assert as_greedy == pytest.approx(result, rel=1e-5)
    assert_finite_figures(evaluate(model, task, "test", batch_size=256))


@cases
def test_baseline_is_a_finite_number(case: str, built: Callable[[str, int], Task]) -> None:
    task = built(case, 0)
    assert task.spec.baseline == task.baseline
    if case in NO_BASELINE:
        assert task.baseline is None, f"{case} has a baseline now: drop it from NO_BASELINE"
        return
    assert isinstance(task.baseline, float) and math.isfinite(task.baseline)
