"""Models: seq->vec (classify / regress) and aligned seq->seq (tagging) over any layers."""

from rnnlab.models.build import ModelConfig, build_model
from rnnlab.models.deep_output import DeepOutput
from rnnlab.models.sequence import Seq2Vec, Tagger

__all__ = ["DeepOutput", "ModelConfig", "Seq2Vec", "Tagger", "build_model"]
