r"""The recurrent baseline of memory networks, model family ``story_rnn``: the story and
the question read as one token sequence by a registered cell (an LSTM by default), the
answer read off its last state (the LSTM row of Sukhbaatar et al. 2015, table 1).

.. math::
    w_1 \dots w_N = \text{story words (oldest first)}, \text{question words}; \qquad
    h_t = F(h_{t-1}, E w_t); \qquad \hat a = \mathrm{softmax}(W h_N + b)

Reads :class:`~rnnlab.tasks.babi.BabiBatch`; the nil words between sentences are squeezed
out, so each row's sequence is exactly its words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._config import option
from rnnlab.layers.build import build_layers
from rnnlab.models.registry import register_model
from rnnlab.tasks.babi import NIL
from rnnlab.tasks.spec import TaskSpec


def story_tokens(story: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
    """``story (B, S, J)`` and ``query (B, Q)`` as one left-packed sequence ``(B, N)`` of
    their words (nil-padded after ``lengths (B,)``)."""
    tokens = torch.cat([story.flatten(1), query], 1)  # (B, S*J + Q)
    real = tokens != NIL
    order = torch.sort((~real).to(torch.uint8), dim=1, stable=True).indices  # real first
    packed = tokens.gather(1, order)
    lengths = real.sum(1)
    return packed[:, : int(lengths.max())], lengths


class StoryRNN(nn.Module):
    """Embedding, a recurrent layer stack over story + question, a linear answer head."""

    causal = False

    def __init__(
        self,
        vocab_size: int,
        answers: int,
        cell: str = "lstm",
        hidden_size: int = 100,
        embedding_size: int = 50,
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=NIL)
        self.layers = build_layers(cell, embedding_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, answers)

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        """Answer logits ``(B, A)``."""
        if not all(hasattr(batch, f) for f in ("story", "query")):
            raise TypeError(
                f"story_rnn reads batches with story and query (task babi), got "
                f"{type(batch).__name__}"
            )
        tokens, lengths = story_tokens(batch.story, batch.query)
        y, _ = self.layers(self.embedding(tokens), None, lengths)  # (B, N, H)
        return self.head(self.layers.summary(y, lengths)), None


@dataclass(frozen=True)
class StoryRNNConfig:
    """Options of the ``story_rnn`` family (see :class:`StoryRNN`)."""

    cell: str = option("lstm", flag="cell", help="the registered cell reading the words")
    hidden_size: int = option(100, flag="hidden", help="hidden units")
    embedding_size: int = option(50, flag="embedding", help="word embedding width")
    num_layers: int = option(1, flag="layers", help="stacked layers")

    @property
    def name(self) -> str:
        return f"story_rnn-{self.cell}"


def build_story_rnn(config: StoryRNNConfig, spec: TaskSpec) -> StoryRNN:
    if spec.kind != "classify":
        raise ValueError(f"story_rnn answers questions (task kind classify), not {spec.kind!r}")
    return StoryRNN(
        spec.input_size,
        spec.output_size,
        config.cell,
        config.hidden_size,
        config.embedding_size,
        config.num_layers,
    )


register_model(
    "story_rnn",
    "a recurrent net over a story and its question as one word sequence (task babi)",
    StoryRNNConfig,
    build_story_rnn,
)
