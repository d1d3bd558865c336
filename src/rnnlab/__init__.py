"""rnnlab: recurrent neural networks, memory and attention on PyTorch.

A cell is one step, ``s_t = F(s_{t-1}, x_t)``; layers unroll any cell; models, tasks,
training and diagnostics build on that.
"""

from rnnlab import memory  # noqa: F401  (registers the memory cells and families)
from rnnlab.cells import Cell, ElmanCell, GRUCell, LSTMCell, cell_names, make_cell
from rnnlab.layers import Bidirectional, Recurrent, Stacked, build_layers
from rnnlab.models import RNNConfig, Seq2Vec, Tagger, build_model, register_model
from rnnlab.tasks import TaskOptions, build_task, task_names
from rnnlab.training import (
    RunConfig,
    TrainConfig,
    TrainedRun,
    baseline_verdict,
    evaluate,
    load,
    train,
    train_seeds,
)

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
    "Cell",
    "ElmanCell",
    "GRUCell",
    "LSTMCell",
    "RNNConfig",
    "Recurrent",
    "RunConfig",
    "Seq2Vec",
    "Stacked",
    "Tagger",
    "TaskOptions",
    "TrainConfig",
    "TrainedRun",
    "baseline_verdict",
    "build_layers",
    "build_model",
    "build_task",
    "cell_names",
    "evaluate",
    "load",
    "make_cell",
    "register_model",
    "task_names",
    "train",
    "train_seeds",
]
