"""Training: the loop, run folders, checkpoints, evaluation and loading runs back."""

from rnnlab.training.checkpoint import CheckpointError
from rnnlab.training.config import RunConfig, TrainConfig
from rnnlab.training.evaluate import evaluate
from rnnlab.training.loop import train
from rnnlab.training.run import TrainedRun, load
from rnnlab.training.seeds import train_seeds
from rnnlab.training.verdict import baseline_verdict

__all__ = [
    "CheckpointError",
    "RunConfig",
    "TrainConfig",
    "TrainedRun",
    "baseline_verdict",
    "evaluate",
    "load",
    "train",
    "train_seeds",
]
