r"""End-to-end memory networks (Sukhbaatar, Szlam, Weston & Fergus 2015), model family
``memn2n``: a question attends over the sentences of a story for ``K`` hops.

Each sentence :math:`x_i = (x_{i1} \dots x_{iJ})` of the story is written into an input
memory :math:`m_i` and an output memory :math:`c_i`, the question :math:`q` into the first
controller state :math:`u^1`; each hop :math:`k` reads the memory with attention:

.. math::
    m_i = \sum_j l_j \odot A^k x_{ij} + T_A^k(i), \qquad
    c_i = \sum_j l_j \odot C^k x_{ij} + T_C^k(i), \qquad
    u^1 = \sum_j l_j \odot B q_j

    p_i = \frac{\exp(u^{k\top} m_i)}{\sum_{j \le n} \exp(u^{k\top} m_j) + (M - n)}, \qquad
    o^k = \sum_i p_i c_i, \qquad
    u^{k+1} = H u^k + o^k, \qquad \hat a = \mathrm{softmax}(W u^{K+1})

* **Encoding**: bag of words, :math:`l_j = 1`; or position encoding for embedding
  dimension :math:`k` of :math:`d` and word :math:`j` of the sentence's :math:`J`
  (1-based): ``position-code`` (the default), the official code's
  :math:`l_{kj} = 1 + 4 (k - \tfrac{d+1}{2})(j - \tfrac{J+1}{2}) / (dJ)`, or ``position``,
  the paper's printed :math:`l_{kj} = (1 - j/J) - (k/d)(1 - 2j/J)`. The two differ by a
  factor of 2: code :math:`= 2 \times` paper :math:`+ (d + J + 1 - 2k - 2j)/(dJ)`; the
  published results come from the code's, and with the printed one the sentence vectors
  start at half the scale and the 3-hop network trains far slower (bAbI tasks 15, 16:
  benchmarks/RESULTS.md).
* **Temporal encoding** :math:`T_A(i), T_C(i)`: a learned vector per time index, 0 for the
  most recent sentence. **Random noise**: in training, each story's time indices are spread
  over ``n + n_blank`` slots, ``n_blank`` uniform in ``0..ceil(0.1 n)``, as if empty
  memories were inserted (no memory is added; the attention still reads ``n`` sentences).
* **Tying**: ``adjacent``, :math:`A^{k+1} = C^k`, :math:`B = A^1`, :math:`W^\top = C^K`
  (and :math:`T_A^{k+1} = T_C^k`), :math:`H = I`; ``layerwise``, one :math:`A`, one
  :math:`C` for all hops, its own :math:`B`, :math:`W`, and a learned :math:`H`.
* **Empty slots** (``empty_slots``; the ``babi`` recipe's): the memory has ``M``
  (``memory_size``) slots of which a story of ``n`` sentences fills ``n``; as in the
  official code, the softmax also covers the ``M - n`` empty ones (all-nil sentences:
  :math:`m = c = 0`, score 0), the ``M - n`` in the denominator; without it, the softmax
  covers the ``n`` sentences alone. The ``babi`` task sets ``M`` to its longest story
  (at most 50), as the official code's ``sz``.
* **Linear start**: without the softmax of the hops (:math:`p_i = u^{k\top} m_i`) until the
  validation loss stops falling (``on_validation``; the paper's rule), or for a fixed
  number of validations (``linear_start_evals``: the official code's 20 epochs), then with
  it.
* The nil word (id 0, padding) has a zero embedding that stays zero; every weight starts
  from :math:`\mathcal N(0, 0.1^2)`.

Reads :class:`~rnnlab.tasks.babi.BabiBatch` (``story (B, S, J)``, ``query (B, Q)``,
``lengths (B,)``); outputs ``(B, A)`` answer logits. With ``adjacent`` tying answer class
``a`` is word ``ANSWER_OFFSET + a`` (the bAbI task's layout).

Notes:
    The paper's :math:`W` maps to the whole vocabulary; here it maps to the answers (the
    rows of :math:`C^K` of the answer words under adjacent tying). :math:`J` in the position
    encoding is each sentence's own length, as in the paper (the official code uses the
    longest sentence's).

Example::

    model = MemN2N(vocab_size=40, answers=10, hidden_size=20)
    logits, _ = model(batch)            # batch: a BabiBatch
    weights = model.hop_attention(batch)  # K tensors (B, S)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._config import option
from rnnlab.attention import DotAttention
from rnnlab.attention.base import weighted_sum
from rnnlab.models.registry import register_model
from rnnlab.tasks.babi import ANSWER_OFFSET, NIL
from rnnlab.tasks.spec import TaskSpec

ENCODINGS = ("position-code", "position", "bow")
TYINGS = ("adjacent", "layerwise")


def position_encoding(tokens: Tensor, d: int, formula: str = "code") -> Tensor:
    r"""``(..., J, d)`` weights of the word ids ``tokens (..., J)``, with :math:`J` each
    sentence's count of non-nil words: ``formula="code"``, the official code's
    :math:`l_{kj} = 1 + 4 (k - \tfrac{d+1}{2})(j - \tfrac{J+1}{2}) / (dJ)`;
    ``"paper"``, the paper's printed :math:`l_{kj} = (1 - j/J) - (k/d)(1 - 2j/J)`."""
    J = (tokens != NIL).sum(-1, keepdim=True).clamp(min=1).to(torch.get_default_dtype())
    j = torch.arange(1, tokens.shape[-1] + 1, dtype=J.dtype, device=tokens.device)
    k = torch.arange(1, d + 1, dtype=J.dtype, device=tokens.device)
    if formula == "code":
        centred = (j.unsqueeze(-1) - (J.unsqueeze(-1) + 1) / 2) / J.unsqueeze(-1)  # (..., J, 1)
        return 1 + 4 * (k - (d + 1) / 2) * centred / d  # (..., J, d)
    if formula != "paper":
        raise ValueError(f"unknown position formula {formula!r}; expected code or paper")
    ratio = (j / J).unsqueeze(-1)  # (..., J, 1): j/J
    return (1 - ratio) - (k / d) * (1 - 2 * ratio)  # (..., J, d)


class MemN2N(nn.Module):
    """An end-to-end memory network (see the module docstring for the equations).

    Args:
        vocab_size: word ids (0 the nil word).
        answers: answer classes.
        hidden_size: the embedding width ``d``.
        hops: ``K``.
        encoding: ``position-code``, ``position`` (the paper's printed formula) or ``bow``.
        temporal: add the temporal encoding ``T_A``, ``T_C``.
        tying: ``adjacent`` or ``layerwise``.
        linear_start: start without the hops' softmax.
        linear_start_evals: end linear start after this many validations (``None``: when
            the validation loss stops falling).
        random_noise: fraction of empty memories inserted in training (0: none).
        memory_size: the memory's slots ``M``: time indices of the temporal encoding (the
            sentences a story keeps).
        empty_slots: the hops' softmax also covers the ``M - n`` empty slots.
        init_std: standard deviation of the initial weights.
    """

    causal = False
    softmax_on: Tensor  # buffers: whether linear start is over, the val loss it tracks
    best_val_loss: Tensor
    validations: Tensor

    def __init__(
        self,
        vocab_size: int,
        answers: int,
        hidden_size: int = 20,
        hops: int = 3,
        encoding: str = "position-code",
        temporal: bool = True,
        tying: str = "adjacent",
        linear_start: bool = False,
        linear_start_evals: int | None = None,
        random_noise: float = 0.0,
        memory_size: int = 50,
        init_std: float = 0.1,
        empty_slots: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("hidden_size", hidden_size), ("hops", hops)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if encoding not in ENCODINGS:
            raise ValueError(
                f"unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}"
            )
        if tying not in TYINGS:
            raise ValueError(f"unknown tying {tying!r}; expected adjacent or layerwise")
        if not 0 <= random_noise < 1:
            raise ValueError(f"random_noise must be in [0, 1), got {random_noise!r}")
        if tying == "adjacent" and vocab_size < ANSWER_OFFSET + answers:
            raise ValueError(
                f"adjacent tying reads the answers as words {ANSWER_OFFSET}.."
                f"{ANSWER_OFFSET + answers - 1}, but the vocabulary has {vocab_size} words"
            )
        d = hidden_size
        self.d, self.hops, self.answers = d, hops, answers
        self.encoding, self.tying, self.temporal = encoding, tying, temporal
        self.random_noise, self.memory_size = random_noise, memory_size
        self.empty_slots = empty_slots
        n = hops + 1 if tying == "adjacent" else 3  # adjacent: E_0..E_K; layerwise: A, C, B

        def embedding() -> nn.Embedding:
            return nn.Embedding(vocab_size, d, padding_idx=NIL)

        self.embeddings = nn.ModuleList(embedding() for _ in range(n))
        if temporal:
            m = hops + 1 if tying == "adjacent" else 2  # T_A, T_C per hop (tied) or shared
            self.times = nn.ParameterList(
                nn.Parameter(torch.empty(memory_size, d)) for _ in range(m)
            )
        if tying == "layerwise":
            self.H = nn.Linear(d, d, bias=False)
            self.W = nn.Linear(d, answers, bias=False)
        self.attention = DotAttention(d, d)
        # linear start: the hops' softmax is off until on_validation turns it on
        self.register_buffer("softmax_on", torch.tensor(not linear_start))
        self.register_buffer("best_val_loss", torch.tensor(math.inf))
        self.register_buffer("validations", torch.tensor(0))
        self.linear_start_evals = linear_start_evals
        for p in self.parameters():
            nn.init.normal_(p, std=init_std)
        with torch.no_grad():
            for i in range(len(self.embeddings)):
                self._e(i).weight[NIL].zero_()

    # -- the tied weights ----------------------------------------------------------------
    def _e(self, i: int) -> nn.Embedding:
        return cast(nn.Embedding, self.embeddings[i])

    def _t(self, i: int) -> Tensor | None:
        return cast(nn.ParameterList, self.times)[i] if self.temporal else None

    def _a(self, k: int) -> tuple[nn.Embedding, Tensor | None]:
        """The input memory's embedding and temporal matrix of hop ``k`` (0-based)."""
        if self.tying == "adjacent":
            return self._e(k), self._t(k)
        return self._e(0), self._t(0)

    def _c(self, k: int) -> tuple[nn.Embedding, Tensor | None]:
        if self.tying == "adjacent":
            return self._e(k + 1), self._t(k + 1)
        return self._e(1), self._t(1)

    def _b(self) -> nn.Embedding:
        return self._e(0) if self.tying == "adjacent" else self._e(2)

    def _answer(self, u: Tensor) -> Tensor:
        if self.tying == "adjacent":  # W^T = C^K, the rows of the answer words
            W = self._e(self.hops).weight[ANSWER_OFFSET : ANSWER_OFFSET + self.answers]
            return u @ W.t()
        return self.W(u)

    # -- the network ---------------------------------------------------------------------
    def _weights(self, tokens: Tensor) -> Tensor | None:
        """The position encoding of ``tokens (..., J)``, or ``None`` for bag of words."""
        if self.encoding == "bow":
            return None
        return position_encoding(
            tokens, self.d, "code" if self.encoding == "position-code" else "paper"
        )

    def _encode(self, embedding: nn.Embedding, tokens: Tensor, l: Tensor | None) -> Tensor:
        """Sentence vectors ``(..., d)`` of ``tokens (..., J)``: sum_j l_j * E x_j."""
        x = F.embedding(tokens, embedding.weight, padding_idx=NIL)  # (..., J, d)
        if l is not None:
            x = x * l.to(x.dtype)
        return x.sum(-2)

    def time_indices(self, lengths: Tensor, S: int) -> Tensor:
        """``(B, S)`` time index of each sentence: 0 for the most recent; in training with
        random noise, spread over ``n + n_blank`` slots (capped at ``memory_size - 1``)."""
        slot = torch.arange(S, device=lengths.device)
        time = (lengths.unsqueeze(1) - 1 - slot).clamp(min=0)  # (B, S)
        if self.training and self.random_noise > 0:
            time = time.clone()
            for b, n in enumerate(lengths.tolist()):
                blank = int(torch.randint(math.ceil(self.random_noise * n) + 1, ()))
                kept = torch.randperm(n + blank)[:n].sort().values  # ascending slots
                time[b, :n] = kept.flip(0).to(time.device)  # the oldest gets the largest
        return time.clamp(max=self.memory_size - 1)

    def _run(self, batch: Any) -> tuple[Tensor, list[Tensor]]:
        if not all(hasattr(batch, f) for f in ("story", "query", "lengths")):
            raise TypeError(
                "memn2n reads batches with story, query and lengths (task babi), got "
                f"{type(batch).__name__}"
            )
        story, lengths = batch.story, batch.lengths  # (B, S, J), (B,)
        S = story.shape[1]
        if self.memory_size < S:
            raise ValueError(
                f"stories of {S} sentences exceed memory_size {self.memory_size}; keep fewer "
                "(babi --T) or build a larger memory"
            )
        mask = torch.arange(S, device=story.device) < lengths.unsqueeze(1)  # (B, S)
        time = self.time_indices(lengths, S) if self.temporal else None
        l_story = self._weights(story)  # (B, S, J, d), once for every hop
        softmax = bool(self.softmax_on)
        empty = None  # log(M - n): the empty slots' share of the softmax's denominator
        if self.empty_slots:
            free = (self.memory_size - lengths).unsqueeze(1)
            empty = free.to(self._b().weight.dtype).log()  # -inf when the memory is full
        u = self._encode(self._b(), batch.query, self._weights(batch.query))  # (B, d)
        weights = []
        for k in range(self.hops):
            (A, TA), (C, TC) = self._a(k), self._c(k)
            m = self._encode(A, story, l_story)  # (B, S, d)
            c = self._encode(C, story, l_story)
            if time is not None and TA is not None and TC is not None:
                m, c = m + TA[time], c + TC[time]
            if softmax and empty is not None:  # the M - n empty slots: score 0, output 0
                scores = self.attention.single_scores(u, m)
                scores = torch.cat([scores.masked_fill(~mask, -math.inf), empty], 1)
                p = torch.softmax(scores, 1)[:, :S]
                o = weighted_sum(p, c)
            elif softmax:
                o, p = self.attention(u, m, c, mask)  # p_i = softmax(u.m_i); o = sum p_i c_i
            else:  # linear start: p_i = u.m_i
                p = self.attention.single_scores(u, m) * mask
                o = weighted_sum(p, c)
            u = (u if self.tying == "adjacent" else self.H(u)) + o  # u^{k+1} = H u^k + o^k
            weights.append(p)
        return self._answer(u), weights

    def forward(self, batch: Any, state: Any = None) -> tuple[Tensor, None]:
        """Answer logits ``(B, A)``."""
        logits, _ = self._run(batch)
        return logits, None

    def hop_attention(self, batch: Any) -> list[Tensor]:
        """Each hop's weights over the story's sentences, ``K`` tensors ``(B, S)`` (softmax
        weights; the raw scores while linear start is on)."""
        return self._run(batch)[1]

    def on_validation(self, metrics: dict[str, float]) -> None:
        """Linear start: turn the hops' softmax on once the validation loss stops falling
        (or after ``linear_start_evals`` validations)."""
        if bool(self.softmax_on):
            return
        self.validations += 1
        loss = metrics.get("loss", math.inf)
        if self.linear_start_evals is not None:
            if int(self.validations) >= self.linear_start_evals:
                self.softmax_on.fill_(True)
        elif loss >= float(self.best_val_loss):
            self.softmax_on.fill_(True)
        else:
            self.best_val_loss.fill_(loss)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        # weights saved before the linear-start counter existed: count from their switch
        state_dict.setdefault(prefix + "validations", self.validations.clone())
        super()._load_from_state_dict(state_dict, prefix, *args)

    def summary_fields(self) -> dict[str, Any]:
        return {"linear_start_done": bool(self.softmax_on)}


@dataclass(frozen=True)
class MemN2NConfig:
    """Options of the ``memn2n`` family (see :class:`MemN2N`)."""

    hidden_size: int = option(20, flag="hidden", help="embedding width d")
    hops: int = option(3, flag="hops", help="memory hops K")
    encoding: str = option(
        "position-code",
        flag="encoding",
        help="sentence encoding: position-code (the official code's), position (the paper's "
        "printed formula, half the scale), bow",
        choices=ENCODINGS,
    )
    temporal: bool = option(
        True, flag="temporal", help="temporal encoding T_A, T_C", negative="no-temporal"
    )
    tying: str = option("adjacent", flag="tying", help="weight tying", choices=TYINGS)
    linear_start: bool = option(
        True,
        flag="linear-start",
        help="no softmax on the memory until the val loss stops falling",
        negative="no-linear-start",
    )
    linear_start_evals: int | None = option(
        None,
        flag="linear-start-evals",
        help="end linear start after this many validations (default: when the val loss "
        "stops falling)",
    )
    random_noise: float = option(
        0.1, flag="random-noise", help="fraction of empty memories in training", type=float
    )
    memory_size: int = option(50, flag="memory-size", help="sentences the memory holds")
    init_std: float = option(0.1, flag="init-std", help="std of the initial weights")
    empty_slots: bool = option(
        False,
        flag="empty-slots",
        help="the hops' softmax also covers the memory's empty slots (score 0), as the "
        "official code",
        negative="no-empty-slots",
    )

    @property
    def name(self) -> str:
        return "memn2n"


def build_memn2n(config: MemN2NConfig, spec: TaskSpec) -> MemN2N:
    if spec.kind != "classify":
        raise ValueError(f"memn2n answers questions (task kind classify), not {spec.kind!r}")
    return MemN2N(
        spec.input_size,
        spec.output_size,
        hidden_size=config.hidden_size,
        hops=config.hops,
        encoding=config.encoding,
        temporal=config.temporal,
        tying=config.tying,
        linear_start=config.linear_start,
        linear_start_evals=config.linear_start_evals,
        random_noise=config.random_noise,
        memory_size=config.memory_size,
        init_std=config.init_std,
        empty_slots=config.empty_slots,
    )


register_model(
    "memn2n",
    "end-to-end memory network over a story's sentences (Sukhbaatar et al. 2015; task babi)",
    MemN2NConfig,
    build_memn2n,
)
