"""Training: the loop, run folders, checkpoints, evaluation and loading runs back."""

from rnnlab.training.checkpoint import CheckpointError
from rnnlab.training.config import RunConfig, TrainConfig
from rnnlab.training.evaluate import evaluate
from rnnlab.training.loop import train
from rnnlab.training.run import TrainedRun, load

__all__ = ["CheckpointError", "RunConfig", "TrainConfig", "TrainedRun", "evaluate", "load", "train"]
