"""The ``rnn`` model family: every registered cell, in every layer stack, under the head
the task needs (seq->vec, tagger, language model, vec->seq generator, encoder-decoder)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from rnnlab._config import option
from rnnlab.attention import ATTENTIONS
from rnnlab.cells.registry import cell_names, check_cell_options, make_cell
from rnnlab.layers.base import SequenceLayer
from rnnlab.layers.build import build_layers
from rnnlab.layers.deep import build_deep_stacked
from rnnlab.layers.dilated import build_dilated
from rnnlab.models.conditional import ConditionalGenerator
from rnnlab.models.deep_output import DeepOutput
from rnnlab.models.language import LanguageModel
from rnnlab.models.registry import register_model
from rnnlab.models.seq2seq import EncoderDecoder
from rnnlab.models.sequence import Seq2Vec, Tagger
from rnnlab.tasks.spec import TaskSpec

STACKS: dict[str, str] = {
    "plain": "layers of the cell stacked (optionally bidirectional, residual)",
    "dilated": "dilated RNN: layer l skips 2^(l-1) steps (Chang et al. 2017)",
    "deep": "deep RNN: every layer also reads the input, the output joins every layer "
    "(Pascanu et al. 2014)",
}


@dataclass(frozen=True)
class RNNConfig:
    """A recurrent model: a layer stack of one registered cell and the task's head.

    Attributes:
        cell: a registered cell name (``rnnlab list``).
        stack: ``plain``, ``dilated`` (per-layer recurrent skips, ``dilations``) or ``deep``
            (every layer reads the input and the output joins every layer).
        cell_options: keyword options of the cell's builder (``{"p": 0.25}`` for
            ``vd_lstm``; ``rnnlab list --json`` shows each cell's).
        dilations: the dilated stack's per-layer dilations (``None``: 1, 2, 4, ...).
        hidden_size: units per direction and layer.
        num_layers: stacked layers.
        bidirectional: read each layer in both directions.
        dropout: dropout between stacked layers (and on a language model's embeddings and
            outputs).
        residual: residual connections between stacked layers of equal width.
        fast: allow PyTorch's fused kernels for plain LSTM/GRU/Elman unrolls.
        chrono_delay: when set, cells with a ``chrono_init_`` method (LSTM, GRU, minGRU) get chrono
            initialisation for dependencies up to this many steps (Tallec & Ollivier 2018).
        deep_output: hidden width of an MLP head (deep output) instead of a linear one.
        embedding_size: token embedding width (``None``: hidden_size).
        feed_condition: a vec->seq generator also reads its condition at every step.
        attention: encoder-decoders: ``none``, ``additive`` (Bahdanau et al. 2015), ``dot``
            or ``general`` (Luong et al. 2015).
        input_feeding: encoder-decoders: feed the attentional vector to the decoder's next
            step (Luong et al. 2015).

    For an encoder-decoder the layer fields describe the encoder; the decoder is one
    ``cell`` of ``hidden_size`` units.
    """

    cell: str = option("gru", flag="cell", help="the recurrent cell (`rnnlab list`)")
    stack: str = option("plain", flag="stack", help="plain, dilated or deep", choices=STACKS)
    cell_options: dict[str, Any] = option(
        default_factory=dict, flag="cell-option", help="a cell builder option (repeatable)"
    )
    dilations: tuple[int, ...] | None = option(
        None, flag="dilations", help="dilated: per-layer dilations, e.g. 1,2,4,8"
    )
    hidden_size: int = option(128, flag="hidden", help="hidden units per layer")
    num_layers: int = option(1, flag="layers", help="stacked layers")
    bidirectional: bool = option(
        False, flag="bidirectional", help="read each layer both ways", negative="unidirectional"
    )
    dropout: float = option(0.0, flag="dropout", help="dropout between stacked layers", type=float)
    residual: bool = option(False, flag="residual", help="residual connections between layers")
    fast: bool = option(True, help="PyTorch's fused kernels", negative="no-fast")
    chrono_delay: int | None = option(
        None,
        flag="chrono",
        help="chrono initialisation of LSTM/GRU/minGRU gates for delays up to this",
        negative="no-chrono",
    )
    deep_output: int | None = option(None, flag="deep-output", help="MLP head of this width")
    embedding_size: int | None = option(
        None, flag="embedding", help="token embedding width (lm, seq2seq)"
    )
    feed_condition: bool = option(
        False,
        flag="feed-condition",
        help="vec->seq generators: also read the condition at every step",
        negative="no-feed-condition",
    )
    attention: str = option(
        "additive",
        flag="attention",
        help="encoder-decoders: none, additive (Bahdanau), dot or general (Luong)",
        choices=ATTENTIONS,
    )
    input_feeding: bool = option(
        True,
        flag="input-feeding",
        help="encoder-decoders: feed the attentional vector to the next step",
        negative="no-input-feeding",
    )

    def __post_init__(self) -> None:
        if not isinstance(self.cell_options, dict):
            raise ValueError(f"cell_options must be a dict, got {self.cell_options!r}")
        check_cell_options(self.cell, self.cell_options)  # unknown cell or option: one line
        if self.stack not in STACKS:
            raise ValueError(f"unknown stack {self.stack!r}; expected one of {', '.join(STACKS)}")
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"unknown attention {self.attention!r}; expected one of {', '.join(ATTENTIONS)}"
            )
        if self.stack == "dilated" and self.bidirectional:
            raise ValueError("the dilated RNN has no bidirectional form; drop --bidirectional")
        if self.stack == "deep" and self.residual:
            raise ValueError("--stack deep already feeds x to every layer; drop --residual")

    @property
    def name(self) -> str:
        """``lstm``, ``dilated(gru)``, ``deep(lstm)``: the model's name in summaries."""
        return self.cell if self.stack == "plain" else f"{self.stack}({self.cell})"

    @classmethod
    def complete(cls, fields: dict[str, Any], given: set[str]) -> dict[str, Any]:
        """Fields implied by others: given ``dilations`` set the dilated stack's depth
        unless ``num_layers`` is given too. A stack chosen by name (``--model dilated``)
        needs its cell named too."""
        fields = dict(fields)
        stack = fields.get("stack", "plain")
        if stack != "plain" and "stack" in given and "cell" not in given:
            raise ValueError(f"model {stack!r} wraps a cell: give one with --cell (e.g. gru)")
        if fields.get("dilations") is not None:
            fields["dilations"] = tuple(fields["dilations"])
            if "num_layers" not in given:
                fields["num_layers"] = len(fields["dilations"])
        return fields

    @classmethod
    def from_legacy(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Fields of a model stored before families existed (``cell`` could name the
        ``dilated`` stack, its cell in ``inner_cell``; ``skip_connections`` meant the deep
        stack)."""
        data = dict(data)
        inner = data.pop("inner_cell", None)
        if data.get("cell") == "dilated":
            data["cell"], data["stack"] = inner, "dilated"
        if data.pop("skip_connections", False):
            data["stack"] = "deep"
        return data


def shorthands() -> dict[str, dict[str, Any]]:
    """``--model NAME`` for every registered cell, and for the stacks over one."""
    names: dict[str, dict[str, Any]] = {name: {"cell": name} for name in cell_names()}
    names.update({stack: {"stack": stack} for stack in STACKS if stack != "plain"})
    return names


def build_rnn(config: RNNConfig, spec: TaskSpec) -> nn.Module:
    """The head for the task's kind over the layer stack ``config`` describes."""
    builder = _HEADS.get(spec.kind)
    if builder is None:
        raise ValueError(f"model family 'rnn' has no model for tasks of kind {spec.kind!r}")
    return builder(config, spec)


def build_rnn_layers(config: RNNConfig, input_size: int) -> SequenceLayer:
    """The layer stack ``config`` describes, reading ``input_size`` features."""
    layers: SequenceLayer
    common: dict[str, Any] = {
        "num_layers": config.num_layers,
        "dropout": config.dropout,
        "fast": config.fast,
        "cell_options": config.cell_options,
    }
    if config.stack == "dilated":
        layers = build_dilated(
            config.cell,
            input_size,
            config.hidden_size,
            dilations=config.dilations,
            residual=config.residual,
            **common,
        )
    elif config.stack == "deep":
        layers = build_deep_stacked(
            config.cell,
            input_size,
            config.hidden_size,
            bidirectional=config.bidirectional,
            **common,
        )
    else:
        layers = build_layers(
            config.cell,
            input_size,
            config.hidden_size,
            bidirectional=config.bidirectional,
            residual=config.residual,
            **common,
        )
    if config.chrono_delay is not None:
        for module in layers.modules():
            init = getattr(module, "chrono_init_", None)
            if callable(init):
                init(config.chrono_delay)
    return layers


def _head(config: RNNConfig, width: int, output_size: int) -> nn.Module | None:
    return (
        None if config.deep_output is None else DeepOutput(width, config.deep_output, output_size)
    )


def _over_layers(model: type[Seq2Vec] | type[Tagger]) -> Callable[[RNNConfig, TaskSpec], nn.Module]:
    """A builder of ``model`` (a head over the layers reading the task's features)."""

    def build(config: RNNConfig, spec: TaskSpec) -> nn.Module:
        layers = build_rnn_layers(config, spec.input_size)
        head = _head(config, layers.output_size, spec.output_size)
        return model(layers, spec.output_size, head=head)

    return build


def _language_model(config: RNNConfig, spec: TaskSpec) -> nn.Module:
    """``input_size`` tokens read, ``output_size`` predicted (fewer when the input has a start
    symbol that is never a target)."""
    layers = build_rnn_layers(config, config.embedding_size or config.hidden_size)
    return LanguageModel(
        spec.input_size,
        layers,
        dropout=config.dropout,
        head=_head(config, layers.output_size, spec.output_size),
        output_size=spec.output_size,
    )


def _generator(config: RNNConfig, spec: TaskSpec) -> nn.Module:
    """vec->seq: ``input_size`` is the condition's width, ``output_size`` the vocabulary."""
    condition = spec.input_size
    width = (config.embedding_size or config.hidden_size) + (
        condition if config.feed_condition else 0
    )
    layers = build_rnn_layers(config, width)
    return ConditionalGenerator(
        condition,
        spec.output_size,
        layers,
        feed_condition=config.feed_condition,
        dropout=config.dropout,
        head=_head(config, layers.output_size, spec.output_size),
    )


def _encoder_decoder(config: RNNConfig, spec: TaskSpec) -> nn.Module:
    """The encoder is the layer stack; the decoder is one ``cell`` of ``hidden_size``."""
    if config.deep_output is not None:
        raise ValueError("--deep-output does not apply to encoder-decoders")
    embedding = config.embedding_size or config.hidden_size
    encoder = build_rnn_layers(config, embedding)
    options = config.cell_options
    feed = make_cell(config.cell, 1, config.hidden_size, **options).output_size
    decoder_cell = make_cell(
        config.cell,
        embedding + (feed if config.input_feeding else 0),
        config.hidden_size,
        **options,
    )
    if config.attention == "dot" and encoder.output_size != decoder_cell.output_size:
        raise ValueError(
            f"dot attention needs encoder outputs ({encoder.output_size}) as wide as the "
            f"decoder's ({decoder_cell.output_size}); use --attention general or additive, "
            "or a unidirectional encoder"
        )
    return EncoderDecoder(
        spec.input_size,
        spec.output_size,
        encoder,
        decoder_cell,
        embedding,
        attention=config.attention,
        input_feeding=config.input_feeding,
        dropout=config.dropout,
        fast=config.fast,
    )


_HEADS: dict[str, Callable[[RNNConfig, TaskSpec], nn.Module]] = {
    "classify": _over_layers(Seq2Vec),
    "regress": _over_layers(Seq2Vec),
    "tag": _over_layers(Tagger),
    "lm": _language_model,
    "vec2seq": _generator,
    "seq2seq": _encoder_decoder,
}

register_model(
    "rnn",
    "recurrent layers of any registered cell (--model CELL, or --model dilated --cell CELL)",
    RNNConfig,
    build_rnn,
    shorthands,
)
