"""Models over any layers: seq->vec (classify / regress), aligned seq->seq (tagging), and
generative language models, vec->seq conditional generators and encoder-decoders with
attention."""

from rnnlab.attention import (
    AdditiveAttention,
    Attention,
    DotAttention,
    GeneralAttention,
    make_attention,
)
from rnnlab.models.build import ModelConfig, build_model
from rnnlab.models.conditional import ConditionalGenerator, ConditionalState, StateBridge
from rnnlab.models.deep_output import DeepOutput
from rnnlab.models.language import LanguageModel
from rnnlab.models.seq2seq import EncoderDecoder, Seq2SeqState
from rnnlab.models.sequence import Seq2Vec, Tagger

__all__ = [
    "AdditiveAttention",
    "Attention",
    "ConditionalGenerator",
    "ConditionalState",
    "DeepOutput",
    "DotAttention",
    "EncoderDecoder",
    "GeneralAttention",
    "LanguageModel",
    "ModelConfig",
    "Seq2SeqState",
    "Seq2Vec",
    "StateBridge",
    "Tagger",
    "build_model",
    "make_attention",
]
