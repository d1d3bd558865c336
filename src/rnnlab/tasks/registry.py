"""Tasks by name: ``build_task("copy", TaskOptions(T=200))``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnlab._registry import Registry
from rnnlab.tasks.adding import AddingTask
from rnnlab.tasks.babi import BabiTask, parse_task_id
from rnnlab.tasks.babi_path import BabiPathTask
from rnnlab.tasks.base import Task
from rnnlab.tasks.byod import UserDataTask
from rnnlab.tasks.charlm import CharLMTask
from rnnlab.tasks.code2seq import Code2SeqTask
from rnnlab.tasks.copy import CopyTask
from rnnlab.tasks.dates import DatesTask
from rnnlab.tasks.graphs import GraphPathTask, GraphReachTask
from rnnlab.tasks.hmm import HMMTask
from rnnlab.tasks.mnist import PermutedMNISTTask, SequentialMNISTTask
from rnnlab.tasks.mnist1d import MNIST1DTask
from rnnlab.tasks.mnist1d_gen import MNIST1DGenTask
from rnnlab.tasks.mqar import MQARTask
from rnnlab.tasks.ntm import NTMCopyTask, NTMRecallTask, NTMRepeatCopyTask
from rnnlab.tasks.selective_copy import SelectiveCopyTask
from rnnlab.tasks.symbolic import ReverseTask, SortTask
from rnnlab.tasks.translate import TranslationTask


@dataclass(frozen=True)
class TaskOptions:
    """Options a user may give any task; each task says which ones apply to it.

    Attributes:
        T: sequence length or delay (copy, adding).
        data: a local file or folder holding the data (dataset tasks).
        download: fetch missing files into ``cache_dir`` (dataset tasks with a public URL).
        cache_dir: where downloads are cached (default ``~/.cache/rnnlab``).
        seed: fixes the ``val``/``test`` splits and the training stream.
        src, tgt: source and target language codes (translation).
        short: keep only the PyTorch tutorial's short Tatoeba pairs (translation).
        task_id: which bAbI task, ``1``..``20`` or ``all`` (babi).
        extras: a task's own options (``--task-option NAME=VALUE``), e.g. ``pairs`` and
            ``vocab`` of ``mqar``; a task that takes none rejects them.
    """

    T: int | None = None
    data: str | None = None
    download: bool = False
    cache_dir: str | None = None
    seed: int = 0
    src: str | None = None
    tgt: str | None = None
    short: bool = False
    task_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.T is not None and (
            isinstance(self.T, bool) or not isinstance(self.T, int) or not 1 <= self.T <= MAX_T
        ):
            raise ValueError(f"T must be an integer in [1, {MAX_T}], got {self.T!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


MAX_T = 100_000
"""The longest sequence or delay a task accepts (``--T``): far beyond any published setting
(copy at 2000, sequential MNIST at 784), short of allocating tens of gigabytes."""

TaskBuilder = Callable[[TaskOptions], Task]


@dataclass(frozen=True)
class TaskEntry:
    name: str
    description: str
    build: TaskBuilder
    accepts: frozenset[str]  # TaskOptions fields (besides seed) the task uses


_TASKS: Registry[TaskEntry] = Registry("task")


def register_task(name: str, description: str, build: TaskBuilder, accepts: set[str]) -> None:
    _TASKS.add(name, TaskEntry(name, description, build, frozenset(accepts)))


def task_names() -> list[str]:
    return _TASKS.names()


def task_entry(name: str) -> TaskEntry:
    return _TASKS[name]


def build_task(name: str, options: TaskOptions | None = None) -> Task:
    """Build task ``name``; options that do not apply to it are an error."""
    entry = task_entry(name)
    options = options or TaskOptions()
    defaults = TaskOptions()
    for option in (
        "T",
        "data",
        "download",
        "cache_dir",
        "src",
        "tgt",
        "short",
        "task_id",
        "extras",
    ):
        given = getattr(options, option)
        if given != getattr(defaults, option) and option not in entry.accepts:
            raise ValueError(f"option {option}={given!r} does not apply to task {name!r}")
    return entry.build(options)


def _copy(o: TaskOptions) -> Task:
    return CopyTask(T=o.T if o.T is not None else 100, seed=o.seed)


def _adding(o: TaskOptions) -> Task:
    return AddingTask(T=o.T if o.T is not None else 200, seed=o.seed)


register_task("copy", CopyTask.description, _copy, {"T"})
register_task("adding", AddingTask.description, _adding, {"T"})


def _mnist1d(o: TaskOptions) -> Task:
    return MNIST1DTask(cache_dir=o.cache_dir, seed=o.seed)


def _smnist(o: TaskOptions) -> Task:
    return SequentialMNISTTask(data=o.data, download=o.download, cache_dir=o.cache_dir, seed=o.seed)


def _pmnist(o: TaskOptions) -> Task:
    return PermutedMNISTTask(data=o.data, download=o.download, cache_dir=o.cache_dir, seed=o.seed)


def _data(o: TaskOptions) -> Task:
    return UserDataTask(data=o.data, seed=o.seed)


_MNIST_OPTIONS = {"data", "download", "cache_dir"}
register_task("mnist1d", MNIST1DTask.description, _mnist1d, {"cache_dir"})
register_task("smnist", SequentialMNISTTask.description, _smnist, _MNIST_OPTIONS)
register_task("pmnist", PermutedMNISTTask.description, _pmnist, _MNIST_OPTIONS)
register_task("data", UserDataTask.description, _data, {"data"})


def _mnist1d_gen(o: TaskOptions) -> Task:
    return MNIST1DGenTask(cache_dir=o.cache_dir, seed=o.seed)


register_task("mnist1d-gen", MNIST1DGenTask.description, _mnist1d_gen, {"cache_dir"})


def _code2seq(o: TaskOptions) -> Task:
    return Code2SeqTask(seed=o.seed)


register_task("code2seq", Code2SeqTask.description, _code2seq, set())


def _charlm(o: TaskOptions) -> Task:
    corpus = "stdlib" if o.data is None else "file"
    return CharLMTask(corpus, data=o.data, T=o.T if o.T is not None else 64, seed=o.seed)


def _shakespeare(o: TaskOptions) -> Task:
    return CharLMTask(
        "tinyshakespeare",
        data=o.data,
        T=o.T if o.T is not None else 64,
        download=o.download,
        cache_dir=o.cache_dir,
        seed=o.seed,
    )


register_task("charlm", CharLMTask.description, _charlm, {"T", "data"})
register_task(
    "shakespeare",
    "character language model on Tiny Shakespeare (--data FILE_OR_FOLDER or --download)",
    _shakespeare,
    {"T", "data", "download", "cache_dir"},
)


def _hmm(o: TaskOptions) -> Task:
    return HMMTask(T=o.T if o.T is not None else 64, seed=o.seed)


register_task("hmm", HMMTask.description, _hmm, {"T"})


def _reverse(o: TaskOptions) -> Task:
    return ReverseTask(T=o.T if o.T is not None else 50, seed=o.seed)


def _sort(o: TaskOptions) -> Task:
    return SortTask(T=o.T if o.T is not None else 20, seed=o.seed)


def _dates(o: TaskOptions) -> Task:
    return DatesTask(seed=o.seed)


register_task("reverse", ReverseTask.description, _reverse, {"T"})
register_task("sort", SortTask.description, _sort, {"T"})
register_task("dates", DatesTask.description, _dates, set())


def _translate(o: TaskOptions) -> Task:
    return TranslationTask(
        data=o.data,
        src=o.src,
        tgt=o.tgt,
        short=o.short,
        download=o.download,
        cache_dir=o.cache_dir,
        seed=o.seed,
    )


register_task(
    "translate",
    TranslationTask.description,
    _translate,
    {"data", "download", "cache_dir", "src", "tgt", "short"},
)


def _babi(o: TaskOptions) -> Task:
    return BabiTask(
        data=o.data,
        task_ids=parse_task_id(o.task_id),
        memory=o.T if o.T is not None else 50,
        download=o.download,
        cache_dir=o.cache_dir,
        seed=o.seed,
    )


register_task(
    "babi", BabiTask.description, _babi, {"T", "data", "download", "cache_dir", "task_id"}
)


def _graph_reach(o: TaskOptions) -> Task:
    return GraphReachTask(seed=o.seed)


def _graph_path(o: TaskOptions) -> Task:
    return GraphPathTask(seed=o.seed)


def _babi_path(o: TaskOptions) -> Task:
    return BabiPathTask(data=o.data, download=o.download, cache_dir=o.cache_dir, seed=o.seed)


register_task("babi-path", BabiPathTask.description, _babi_path, {"data", "download", "cache_dir"})
register_task("graph-reach", GraphReachTask.description, _graph_reach, set())
register_task("graph-path", GraphPathTask.description, _graph_path, set())


# --- neural Turing machine tasks (issue 13): T is the longest training length / item count
def _ntm_copy(o: TaskOptions) -> Task:
    return NTMCopyTask(T=o.T if o.T is not None else 20, seed=o.seed)


def _ntm_repeat_copy(o: TaskOptions) -> Task:
    return NTMRepeatCopyTask(T=o.T if o.T is not None else 10, seed=o.seed)


def _ntm_recall(o: TaskOptions) -> Task:
    return NTMRecallTask(T=o.T if o.T is not None else 6, seed=o.seed)


register_task("ntm-copy", NTMCopyTask.description, _ntm_copy, {"T"})
register_task("ntm-repeat-copy", NTMRepeatCopyTask.description, _ntm_repeat_copy, {"T"})
register_task("ntm-recall", NTMRecallTask.description, _ntm_recall, {"T"})


def _extras(name: str, o: TaskOptions, known: set[str]) -> dict[str, Any]:
    """The task's own options; a one-line error for one it does not take."""
    unknown = sorted(set(o.extras) - known)
    if unknown:
        raise ValueError(
            f"task {name!r} has no option {unknown[0]!r}; its options: {', '.join(sorted(known))}"
        )
    return dict(o.extras)


def _selective_copy(o: TaskOptions) -> Task:
    extras = _extras("selective-copy", o, {"tokens", "vocab"})
    return SelectiveCopyTask(T=o.T if o.T is not None else 256, seed=o.seed, **extras)


def _mqar(o: TaskOptions) -> Task:
    extras = _extras("mqar", o, {"pairs", "vocab", "power_a", "random_fill"})
    return MQARTask(T=o.T if o.T is not None else 64, seed=o.seed, **extras)


# recall tasks that separate fixed-size states from attention (issue 15)
register_task("selective-copy", SelectiveCopyTask.description, _selective_copy, {"T", "extras"})
register_task("mqar", MQARTask.description, _mqar, {"T", "extras"})
