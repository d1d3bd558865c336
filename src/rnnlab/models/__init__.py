"""Models over any layers: seq->vec (classify / regress), aligned seq->seq (tagging), and
generative language models, and vec->seq conditional generators."""

from rnnlab.models.build import ModelConfig, build_model
from rnnlab.models.conditional import ConditionalGenerator, ConditionalState, StateBridge
from rnnlab.models.deep_output import DeepOutput
from rnnlab.models.language import LanguageModel
from rnnlab.models.sequence import Seq2Vec, Tagger

__all__ = [
    "ConditionalGenerator",
    "ConditionalState",
    "DeepOutput",
    "LanguageModel",
    "ModelConfig",
    "Seq2Vec",
    "StateBridge",
    "Tagger",
    "build_model",
]
