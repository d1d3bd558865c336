"""Canonical tasks: generators or loaders with their loss, metrics and baseline."""

from rnnlab.tasks.adding import ADDING_BASELINE, AddingTask, make_adding_batch
from rnnlab.tasks.base import IGNORE_INDEX, Batch, DatasetTask, GeneratedTask, Task
from rnnlab.tasks.byod import UserDataTask
from rnnlab.tasks.charlm import EVAL_STREAMS, CharLMTask, stream_batch
from rnnlab.tasks.code2seq import Code2SeqTask, CodeSpelling
from rnnlab.tasks.copy import CopyTask, copy_baseline, make_copy_batch
from rnnlab.tasks.corpora import python_stdlib_corpus, read_text_file, tinyshakespeare
from rnnlab.tasks.download import cache_root, fetch
from rnnlab.tasks.hmm import BeliefState, HMMProcess, HMMTask
from rnnlab.tasks.idx import read_idx
from rnnlab.tasks.mnist import PermutedMNISTTask, SequentialMNISTTask, pmnist_permutation
from rnnlab.tasks.mnist1d import MNIST1DTask, load_mnist1d
from rnnlab.tasks.mnist1d_gen import MNIST1DGenTask, class_condition
from rnnlab.tasks.quantise import UniformQuantiser
from rnnlab.tasks.registry import TaskOptions, build_task, register_task, task_entry, task_names
from rnnlab.tasks.seq2seq import (
    GeneratedSeq2SeqTask,
    Seq2SeqCodec,
    Seq2SeqTask,
    collate,
    collate_sources,
    trim,
)
from rnnlab.tasks.tokens import BOS, EOS, PAD, UNK, TokenVocab
from rnnlab.tasks.vocab import CharVocab

__all__ = [
    "ADDING_BASELINE",
    "BOS",
    "EOS",
    "EVAL_STREAMS",
    "IGNORE_INDEX",
    "PAD",
    "UNK",
    "AddingTask",
    "Batch",
    "BeliefState",
    "CharLMTask",
    "CharVocab",
    "Code2SeqTask",
    "CodeSpelling",
    "CopyTask",
    "DatasetTask",
    "GeneratedSeq2SeqTask",
    "GeneratedTask",
    "HMMProcess",
    "HMMTask",
    "MNIST1DGenTask",
    "MNIST1DTask",
    "PermutedMNISTTask",
    "Seq2SeqCodec",
    "Seq2SeqTask",
    "SequentialMNISTTask",
    "Task",
    "TaskOptions",
    "TokenVocab",
    "UniformQuantiser",
    "UserDataTask",
    "build_task",
    "cache_root",
    "class_condition",
    "collate",
    "collate_sources",
    "copy_baseline",
    "fetch",
    "load_mnist1d",
    "make_adding_batch",
    "make_copy_batch",
    "pmnist_permutation",
    "python_stdlib_corpus",
    "read_idx",
    "read_text_file",
    "register_task",
    "stream_batch",
    "task_entry",
    "task_names",
    "tinyshakespeare",
    "trim",
]
