"""Model families (a registry by name) and the ``rnn`` family's models over any layers:
seq->vec (classify / regress), aligned seq->seq (tagging), generative language models,
vec->seq conditional generators and encoder-decoders with attention."""

from rnnlab.attention import (
    AdditiveAttention,
    Attention,
    DotAttention,
    GeneralAttention,
    make_attention,
)
from rnnlab.models.bag import BagConfig, BagOfEmbeddings
from rnnlab.models.base import Model, TokenGenerator
from rnnlab.models.conditional import ConditionalGenerator, ConditionalState, StateBridge
from rnnlab.models.deep_output import DeepOutput
from rnnlab.models.language import LanguageModel
from rnnlab.models.registry import (
    ModelFamily,
    build_model,
    family_names,
    model_family,
    model_names,
    register_model,
)
from rnnlab.models.rnn import RNNConfig
from rnnlab.models.seq2seq import EncoderDecoder, Seq2SeqState
from rnnlab.models.sequence import Seq2Vec, Tagger
from rnnlab.models.transformer import (
    TransformerConfig,
    TransformerEncoder,
    TransformerLM,
    TransformerState,
)
from rnnlab.models.transformer_seq2seq import TransformerSeq2Seq, TransformerSeq2SeqState

__all__ = [
    "AdditiveAttention",
    "Attention",
    "BagConfig",
    "BagOfEmbeddings",
    "ConditionalGenerator",
    "ConditionalState",
    "DeepOutput",
    "DotAttention",
    "EncoderDecoder",
    "GeneralAttention",
    "LanguageModel",
    "Model",
    "ModelFamily",
    "RNNConfig",
    "Seq2SeqState",
    "Seq2Vec",
    "StateBridge",
    "Tagger",
    "TokenGenerator",
    "TransformerConfig",
    "TransformerEncoder",
    "TransformerLM",
    "TransformerSeq2Seq",
    "TransformerSeq2SeqState",
    "TransformerState",
    "build_model",
    "family_names",
    "make_attention",
    "model_family",
    "model_names",
    "register_model",
]
