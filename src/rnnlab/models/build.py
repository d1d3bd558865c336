"""Build a model for a task from a frozen :class:`ModelConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from rnnlab.attention import ATTENTIONS
from rnnlab.cells.registry import cell_entry, cell_names, make_cell
from rnnlab.layers.base import SequenceLayer
from rnnlab.layers.build import build_layers
from rnnlab.layers.deep import build_deep_stacked
from rnnlab.layers.dilated import build_dilated
from rnnlab.models.conditional import ConditionalGenerator
from rnnlab.models.deep_output import DeepOutput
from rnnlab.models.language import LanguageModel
from rnnlab.models.seq2seq import EncoderDecoder
from rnnlab.models.sequence import Seq2Vec, Tagger

# Models that are layer stacks over a cell (``ModelConfig.inner_cell``) rather than cells
STACKS: dict[str, str] = {
    "dilated": "dilated RNN over any cell (--cell), layer l skips 2^(l-1) steps (Chang 2017)",
}


def model_names() -> list[str]:
    """Every name ``ModelConfig.cell`` accepts: the registered cells and the stacks."""
    return sorted([*cell_names(), *STACKS])


def check_model(cell: str, inner_cell: str | None) -> None:
    """One-line errors for an unknown model or a stack without a valid inner cell."""
    if cell in STACKS:
        if inner_cell is None:
            raise ValueError(f"model {cell!r} wraps a cell: give one with --cell (e.g. gru)")
        cell_entry(inner_cell)
    elif cell not in cell_names():
        raise ValueError(f"unknown model {cell!r}; expected one of {', '.join(model_names())}")
    elif inner_cell is not None:
        raise ValueError(
            f"--cell {inner_cell!r} applies to stack models ({', '.join(STACKS)}), "
            f"not to the cell {cell!r}"
        )


@dataclass(frozen=True)
class ModelConfig:
    """The layer stack and head of a seq->vec or tagging model.

    Attributes:
        cell: a registered cell name, or a stack over one (``dilated``); ``rnnlab list``
            shows them.
        inner_cell: the cell a stack runs (``dilated``); ``None`` for plain cells.
        dilations: the dilated stack's per-layer dilations (``None``: 1, 2, 4, ...).
        hidden_size: units per direction and layer.
        num_layers: stacked layers.
        bidirectional: read each layer in both directions.
        dropout: dropout between stacked layers.
        residual: residual connections between stacked layers of equal width.
        fast: allow PyTorch's fused kernels for plain LSTM/GRU/Elman unrolls.
        skip_connections: a deep RNN (Pascanu et al. 2014): every layer also reads the
            input and the output concatenates every layer's (``DeepStacked``).
        deep_output: hidden width of an MLP head (deep output) instead of a linear one.
        embedding_size: token embedding width of a language model (``None``: hidden_size).
        chrono_delay: when set, cells with a ``chrono_init_`` method (LSTM, GRU) get chrono
            initialisation for dependencies up to this many steps (Tallec & Ollivier 2018);
            other cells keep their initialisation.
        feed_condition: a vec->seq generator also reads its condition at every step
            (concatenated to the token embedding), not only through its initial state.
        attention: encoder-decoders (kind seq2seq): ``none`` (the encoder's final state is
            the context), ``additive`` (Bahdanau et al. 2015), ``dot`` or ``general``
            (Luong et al. 2015).
        input_feeding: encoder-decoders: feed the attentional vector to the decoder's next
            step (Luong et al. 2015).

    For an encoder-decoder the layer fields (cell, hidden_size, num_layers, bidirectional,
    dropout, residual, skip_connections, dilated) describe the encoder; the decoder is one
    cell (``cell``, or ``inner_cell`` of a stack) of ``hidden_size`` units.
    """

    cell: str = "gru"
    inner_cell: str | None = None
    dilations: tuple[int, ...] | None = None
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    residual: bool = False
    fast: bool = True
    chrono_delay: int | None = None
    skip_connections: bool = False
    deep_output: int | None = None
    embedding_size: int | None = None
    feed_condition: bool = False
    attention: str = "additive"
    input_feeding: bool = True

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"unknown attention {self.attention!r}; expected one of {', '.join(ATTENTIONS)}"
            )


def build_model(config: ModelConfig, kind: str, input_size: int, output_size: int) -> nn.Module:
    """A :class:`Seq2Vec` (``kind`` classify/regress), :class:`Tagger` (``kind`` tag),
    :class:`LanguageModel` (``kind`` lm: ``input_size`` tokens read, ``output_size`` tokens
    predicted; they differ when the input has a start symbol that is never a target) or
    :class:`ConditionalGenerator` (``kind`` vec2seq: ``input_size`` is the condition's
    width, ``output_size`` the tokens generated) or :class:`EncoderDecoder` (``kind``
    seq2seq: source and target vocabulary sizes)."""
    check_model(config.cell, config.inner_cell)
    vocab_size = input_size
    if kind in ("lm", "seq2seq"):  # the layers read embeddings
        input_size = config.embedding_size or config.hidden_size
    if kind == "vec2seq":  # the layers read embeddings, and maybe the condition
        condition_size = input_size
        input_size = config.embedding_size or config.hidden_size
        input_size += condition_size if config.feed_condition else 0
    layers = build_model_layers(config, input_size)
    head = None
    if config.deep_output is not None:
        if kind == "seq2seq":
            raise ValueError("--deep-output does not apply to encoder-decoders")
        head = DeepOutput(layers.output_size, config.deep_output, output_size)
    if kind == "lm":
        return LanguageModel(
            vocab_size, layers, dropout=config.dropout, head=head, output_size=output_size
        )
    if kind == "vec2seq":
        return ConditionalGenerator(
            condition_size,
            output_size,
            layers,
            feed_condition=config.feed_condition,
            dropout=config.dropout,
            head=head,
        )
    if kind == "seq2seq":
        return _encoder_decoder(config, layers, vocab_size, output_size)
    if kind in ("classify", "regress"):
        return Seq2Vec(layers, output_size, head=head)
    if kind == "tag":
        return Tagger(layers, output_size, head=head)
    raise ValueError(
        f"unknown task kind {kind!r}; expected classify, regress, tag, lm, vec2seq or seq2seq"
    )


def _encoder_decoder(
    config: ModelConfig, encoder: SequenceLayer, src_vocab: int, tgt_vocab: int
) -> EncoderDecoder:
    """The encoder-decoder over ``encoder``; its decoder is one cell of ``hidden_size``."""
    name = config.inner_cell if config.cell in STACKS else config.cell
    assert name is not None
    embedding = config.embedding_size or config.hidden_size
    feed = make_cell(name, 1, config.hidden_size).output_size if config.input_feeding else 0
    decoder_cell = make_cell(name, embedding + feed, config.hidden_size)
    if config.attention == "dot" and encoder.output_size != decoder_cell.output_size:
        raise ValueError(
            f"dot attention needs encoder outputs ({encoder.output_size}) as wide as the "
            f"decoder's ({decoder_cell.output_size}); use --attention general or additive, "
            "or a unidirectional encoder"
        )
    return EncoderDecoder(
        src_vocab,
        tgt_vocab,
        encoder,
        decoder_cell,
        embedding,
        attention=config.attention,
        input_feeding=config.input_feeding,
        dropout=config.dropout,
        fast=config.fast,
    )


def build_model_layers(config: ModelConfig, input_size: int) -> SequenceLayer:
    """The layer stack ``config`` describes, reading ``input_size`` features."""
    layers: SequenceLayer
    if config.cell == "dilated":
        assert config.inner_cell is not None
        if config.bidirectional:
            raise ValueError("the dilated RNN has no bidirectional form; drop --bidirectional")
        layers = build_dilated(
            config.inner_cell,
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dilations=config.dilations,
            dropout=config.dropout,
            residual=config.residual,
            fast=config.fast,
        )
    elif config.skip_connections:
        if config.residual:
            raise ValueError("--skip-connections already feeds x to every layer; drop --residual")
        layers = build_deep_stacked(
            config.cell,
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            fast=config.fast,
        )
    else:
        layers = build_layers(
            config.cell,
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            residual=config.residual,
            fast=config.fast,
        )
    if config.chrono_delay is not None:
        for module in layers.modules():
            init = getattr(module, "chrono_init_", None)
            if callable(init):
                init(config.chrono_delay)
    return layers
