r"""The ``transformer`` model family: multi-head self-attention in place of a recurrence.

* language model (kind ``lm``): a causal stack; its decoding state is the key/value cache,
  :math:`P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(W\, \mathrm{Stack}(E[x_{\le t}])_t)`;
* encoder (``classify``, ``regress``: the mean of the outputs over the real positions;
  ``tag``: every position) over a linear embedding of the features, reading both ways;
* encoder-decoder (``seq2seq``, :mod:`rnnlab.models.transformer_seq2seq`).

The blocks and the cache are in :mod:`rnnlab.models.transformer_stack`, attention and the
position schemes in :mod:`rnnlab.attention`.

Past ``max_length``: the cache never holds more than ``max_length`` positions. With
relative positions (rotary, ALiBi, none) it slides: the oldest positions are dropped and
absolute positions keep counting, which changes nothing for the kept ones since their
scores depend on distances only. With absolute positions (sinusoidal, learned) a token's
position is baked into its keys: reading a carried state (a stream, in training or
evaluation) past the window starts a fresh context at position 0, and generating past it
(:meth:`TransformerLM.step`) is a one-line error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab._config import option
from rnnlab.attention.positions import POSITIONS, RELATIVE
from rnnlab.models.registry import register_model
from rnnlab.models.transformer_stack import KV, TransformerStack
from rnnlab.tasks.spec import TaskSpec


@dataclass(frozen=True)
class TransformerConfig:
    """A Transformer: ``num_layers`` blocks of ``num_heads``-head attention and an MLP.

    Attributes:
        num_layers: blocks (decoder-only, or each of encoder and decoder).
        num_heads: attention heads per block (dividing ``hidden_size``).
        hidden_size: E, the model width (embeddings, residual stream).
        mlp_ratio: the MLP's hidden width is ``mlp_ratio * E``.
        dropout: on embeddings, attention weights and residual branches.
        positions: ``rotary`` (half-rotated layout), ``alibi``, ``sinusoidal``, ``learned``
            or ``none`` (:mod:`rnnlab.attention.positions`).
        pre_norm: LayerNorm before each sub-layer (else after: the original post-norm).
        tie_weights: the output layer shares the (target) token embedding's matrix.
        max_length: the most positions the cache holds (and the learned table's size).
    """

    num_layers: int = option(4, flag="layers", help="transformer blocks")
    num_heads: int = option(4, flag="heads", help="transformer: attention heads per block")
    hidden_size: int = option(128, flag="hidden", help="transformer width E")
    mlp_ratio: float = option(4.0, flag="mlp-ratio", help="transformer: MLP width / E", type=float)
    dropout: float = option(
        0.0, flag="dropout", help="on embeddings, attention, residual branches", type=float
    )
    positions: str = option(
        "rotary", flag="positions", help="transformer: position scheme", choices=POSITIONS
    )
    pre_norm: bool = option(
        True, flag="pre-norm", help="transformer: LayerNorm before sub-layers", negative="post-norm"
    )
    tie_weights: bool = option(
        True,
        flag="tie-weights",
        help="transformer: output layer shares the embedding",
        negative="no-tie-weights",
    )
    max_length: int = option(
        1024, flag="max-length", help="transformer: most positions in the key/value cache"
    )

    def __post_init__(self) -> None:
        for name in ("num_layers", "num_heads", "hidden_size", "max_length"):
            check_positive(name, getattr(self, name))
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive, got {self.mlp_ratio!r}")
        check_unit_interval("dropout", self.dropout)
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}"
            )
        if self.positions not in POSITIONS:
            raise ValueError(
                f"unknown positions {self.positions!r}; expected one of {', '.join(POSITIONS)}"
            )
        if self.positions == "rotary" and (self.hidden_size // self.num_heads) % 2:
            raise ValueError(
                f"rotary positions need an even head width, got hidden_size/num_heads = "
                f"{self.hidden_size // self.num_heads}"
            )

    @property
    def name(self) -> str:
        return f"transformer({self.positions})"

    def stack(self, causal: bool, cross: bool = False) -> TransformerStack:
        return TransformerStack(
            self.hidden_size,
            self.num_layers,
            self.num_heads,
            self.mlp_ratio,
            self.dropout,
            self.pre_norm,
            self.positions,
            self.max_length,
            causal,
            cross,
        )


def init_weights_(module: nn.Module, num_layers: int) -> None:
    """GPT-2's initialisation: N(0, 0.02) weights and embeddings, zero biases, and the
    projections back into the residual stream scaled by :math:`1/\\sqrt{2 N}`."""
    for name, m in module.named_modules():
        if isinstance(m, (nn.Linear, nn.Embedding)) and m.weight is not None:
            std = 0.02
            if name.endswith(("out_proj", "mlp.2")):
                std /= math.sqrt(2 * num_layers)
            nn.init.normal_(m.weight, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)


class TransformerState(NamedTuple):
    """A language model's decoding state: the key/value cache."""

    layers: tuple[KV, ...]  # per layer (B, h, L, d), L <= max_length
    position: Tensor  # (B,) long: the absolute position of the next token read


class TransformerLM(nn.Module):
    r"""Decoder-only Transformer language model.

    ``forward(batch, state)`` reads ``batch.x (B, T)`` after the cache ``state`` (prompt
    prefill: one pass) and returns the logits ``(B, T, V)`` and the cache after it;
    :meth:`step` reads one token per row. Streaming tasks carry the cache from one batch to
    the next (a Transformer-XL-like memory, its graph cut), within ``max_length`` (see the
    module docstring for what happens past it).

    Args:
        vocab_size: V, tokens read; output_size: tokens predicted (default V).
        config: the family's options.

    Example::

        lm = TransformerLM(65, 65, TransformerConfig(num_layers=2))
        logits, cache = lm(Batch(prompt))                        # prefill
        tokens = greedy(lm.step, cache, prompt[:, -1], 100)      # then one token at a time
    """

    causal = True

    def __init__(self, vocab_size: int, output_size: int, config: TransformerConfig) -> None:
        super().__init__()
        check_positive("vocab_size", vocab_size)
        check_positive("output_size", output_size)
        if output_size > vocab_size and config.tie_weights:
            raise ValueError(
                f"tied weights need output_size ({output_size}) <= vocab_size ({vocab_size})"
            )
        self.input_size, self.output_size = vocab_size, output_size
        self.max_length, self.positions = config.max_length, config.positions
        self.embedding = nn.Embedding(vocab_size, config.hidden_size)
        self.stack = config.stack(causal=True)
        self.tie_weights = config.tie_weights
        self.head = nn.Linear(config.hidden_size, output_size)
        if config.tie_weights:  # the head keeps only its bias; the weight is E[:V_out]
            del self.head.weight
            self.head.register_parameter("weight", None)
        init_weights_(self, config.num_layers)

    @property
    def generation_limit(self) -> int | None:
        """The most positions one generation can reach (prompt included): ``max_length``
        with absolute positions, unbounded (``None``) with relative ones, whose cache
        slides."""
        return None if self.positions in RELATIVE else self.max_length

    def _logits(self, h: Tensor) -> Tensor:
        if self.tie_weights:
            return F.linear(h, self.embedding.weight[: self.output_size], self.head.bias)
        return self.head(h)

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> TransformerState:
        """An empty cache at position 0."""
        weight = self.embedding.weight
        device = weight.device if device is None else torch.device(device)
        layers = self.stack.empty_cache(batch, device, dtype or weight.dtype)
        return TransformerState(layers, torch.zeros(batch, dtype=torch.long, device=device))

    def _past(
        self, state: TransformerState | None, T: int, stepping: bool
    ) -> tuple[tuple[KV, ...] | None, int]:
        """The cache to read ``T`` new positions after, and their first position."""
        if self.max_length < T:
            raise ValueError(f"{T} positions at once is more than max_length={self.max_length}")
        if state is None:
            return None, 0
        past = state.layers
        n = past[0].keys.shape[2]
        start = int(state.position[0]) if state.position.numel() else 0
        if n + T <= self.max_length:
            return past, start
        if self.positions in RELATIVE:  # slide: keep the last max_length - T positions
            keep = self.max_length - T
            return tuple(
                KV(kv.keys[:, :, n - keep :], kv.values[:, :, n - keep :]) for kv in past
            ), start
        if stepping:
            raise ValueError(
                f"the cache is full at max_length={self.max_length} positions and "
                f"{self.positions} positions cannot go past it; generate fewer tokens, or use "
                "rotary or alibi positions"
            )
        return None, 0  # absolute positions: a stream goes on in a fresh context

    def forward_hidden(
        self, x: Tensor, state: TransformerState | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor, TransformerState]:
        """Logits ``(B, T, V)``, the top layer's outputs ``(B, T, E)`` and the cache after
        ``x (B, T)``. ``lengths`` is not needed: the model is causal, so padding after a
        row's end changes none of its real positions."""
        return self._read(x, state, stepping=False)

    def _read(
        self, x: Tensor, state: TransformerState | None, stepping: bool
    ) -> tuple[Tensor, Tensor, TransformerState]:
        if x.dim() != 2 or x.dtype != torch.long:
            raise ValueError(
                f"language model input must be token ids of shape (B, T), dtype long; got "
                f"{tuple(x.shape)} {x.dtype}"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.input_size):
            raise ValueError(
                f"token ids must lie in [0, {self.input_size}), got [{int(x.min())}, "
                f"{int(x.max())}]"
            )
        B, T = x.shape
        past, start = self._past(state, T, stepping)
        h, cache, _ = self.stack(self.embedding(x), start, past)  # (B, T, E)
        position = torch.full((B,), start + T, dtype=torch.long, device=x.device)
        return self._logits(h), h, TransformerState(cache, position)

    def forward(self, batch: Any, state: TransformerState | None = None) -> tuple[Tensor, Any]:
        """Logits ``(B, T, V)`` of ``batch.x (B, T)`` and the cache after it."""
        logits, _, state = self._read(batch.x, state, stepping=False)
        return logits, state

    def teacher_tokens(self, batch: Any, state: Any = None) -> tuple[Tensor, Any]:
        """The tokens read under teacher forcing, ``batch.x``, and the cache before them."""
        return batch.x, state

    def step(self, token: Tensor, state: TransformerState | None) -> tuple[Tensor, Any]:
        """One token per row ``(B,)`` after the cache -> next-token logits ``(B, V)``."""
        logits, _, state = self._read(token.view(-1, 1), state, stepping=True)
        return logits[:, -1], state

    def step_hidden(
        self, token: Tensor, state: TransformerState | None
    ) -> tuple[Tensor, Tensor, Any]:
        """:meth:`step` that also returns the top layer's output ``(B, E)``."""
        logits, hidden, state = self._read(token.view(-1, 1), state, stepping=True)
        return logits[:, -1], hidden[:, -1], state

    def attention_weights(self, x: Tensor) -> list[Tensor]:
        """Per layer the self-attention weights ``(B, h, T, T)`` over ``x (B, T)`` (the
        exact slower path; for figures)."""
        _, _, weights = self.stack(self.embedding(x), 0, None, need_weights=True)
        return [w.self_attention for w in weights if w.self_attention is not None]

    def summary_fields(self) -> dict[str, Any]:
        return {"positions": self.positions, "max_length": self.max_length}


class TransformerEncoder(nn.Module):
    r"""A Transformer encoder over feature sequences ``x (B, T, D)``, reading both ways,
    with padding never attended to (``batch.lengths``).

    ``per_step=False`` (classify, regress): :math:`o = W \frac{1}{L}\sum_{t \le L} h_t + b`;
    ``per_step=True`` (tag): :math:`o_t = W h_t + b` (padded steps' outputs are ignored).
    """

    causal = False

    def __init__(
        self, input_size: int, output_size: int, config: TransformerConfig, per_step: bool
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("output_size", output_size)
        self.input_size, self.output_size, self.per_step = input_size, output_size, per_step
        self.embed = nn.Linear(input_size, config.hidden_size)
        self.stack = config.stack(causal=False)
        self.head = nn.Linear(config.hidden_size, output_size)
        init_weights_(self, config.num_layers)

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        x = batch.x
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"encoder input must have shape (B, T, {self.input_size}), got {tuple(x.shape)}"
            )
        lengths = getattr(batch, "lengths", None)
        real = None
        if lengths is not None:
            real = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]
        h, _, _ = self.stack(self.embed(x), 0, None, key_mask=real)  # (B, T, E)
        if self.per_step:
            return self.head(h), None
        if real is None:
            return self.head(h.mean(1)), None
        total = h.masked_fill(~real.unsqueeze(-1), 0.0).sum(1)  # (B, E)
        mean = total / real.sum(1, keepdim=True).clamp(min=1).to(h.dtype)
        return self.head(mean), None


def build_transformer(config: TransformerConfig, spec: TaskSpec) -> nn.Module:
    """The model for the task's kind (see the module docstring)."""
    from rnnlab.models.transformer_seq2seq import TransformerSeq2Seq

    if spec.kind == "lm":
        return TransformerLM(spec.input_size, spec.output_size, config)
    if spec.kind in ("classify", "regress", "tag"):
        return TransformerEncoder(
            spec.input_size, spec.output_size, config, per_step=spec.kind == "tag"
        )
    if spec.kind == "seq2seq":
        return TransformerSeq2Seq(spec.input_size, spec.output_size, config)
    raise ValueError(
        f"model family 'transformer' serves lm, classify, regress, tag and seq2seq tasks, "
        f"not {spec.kind!r}"
    )


register_model(
    "transformer",
    "Transformer: multi-head self-attention blocks (decoder-only LM, encoder, encoder-decoder)",
    TransformerConfig,
    build_transformer,
)
