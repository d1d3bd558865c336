"""Models over any layers: seq->vec (classify / regress), aligned seq->seq (tagging), and
generative language models."""

from rnnlab.models.build import ModelConfig, build_model
from rnnlab.models.deep_output import DeepOutput
from rnnlab.models.language import LanguageModel
from rnnlab.models.sequence import Seq2Vec, Tagger

__all__ = ["DeepOutput", "LanguageModel", "ModelConfig", "Seq2Vec", "Tagger", "build_model"]
