"""Canonical tasks: generators or loaders with their loss, metrics and baseline."""

from rnnlab.tasks.adding import ADDING_BASELINE, AddingTask, make_adding_batch
from rnnlab.tasks.base import IGNORE_INDEX, Batch, DatasetTask, GeneratedTask, Task
from rnnlab.tasks.copy import CopyTask, copy_baseline, make_copy_batch
from rnnlab.tasks.registry import TaskOptions, build_task, register_task, task_entry, task_names

__all__ = [
    "ADDING_BASELINE",
    "IGNORE_INDEX",
    "AddingTask",
    "Batch",
    "CopyTask",
    "DatasetTask",
    "GeneratedTask",
    "Task",
    "TaskOptions",
    "build_task",
    "copy_baseline",
    "make_adding_batch",
    "make_copy_batch",
    "register_task",
    "task_entry",
    "task_names",
]
