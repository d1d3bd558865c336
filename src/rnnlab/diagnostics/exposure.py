r"""Exposure bias, measured exactly on a process whose distribution is known.

A generative model trained by teacher forcing learns :math:`Q(x_t \mid x_{<t})` on prefixes
drawn from the data; at generation time it conditions on its own samples, prefixes it may
never have seen in training, and its errors can compound. On a
:class:`~rnnlab.tasks.hmm.HMMProcess` the true conditional :math:`P(x_t \mid x_{<t})` of
*any* prefix follows from the forward algorithm, so the error at each position is exact:

.. math::
    \mathrm{KL}_t = \mathbb{E}_{x_{<t}}\Big[\sum_v P(v \mid x_{<t})
        \log \frac{P(v \mid x_{<t})}{Q(v \mid x_{<t})}\Big]

(nats), averaged over prefixes drawn two ways:

* **free-running**: :math:`x_{<t}` sampled from the model itself (ancestral sampling at
  temperature 1): the prefixes the model meets at generation time;
* **teacher-forced**: :math:`x_{<t}` sampled from the true process: the training
  distribution; its mean over positions equals the model's excess cross-entropy over
  the true process, ``(bpc - baseline) * ln 2``, in expectation.

Growth of the free-running curve with :math:`t`, or its excess over the teacher-forced
one, is exposure bias. Unlike the NLL of the model's own samples, which rewards collapsing
onto the most likely path, the KL is zero only for the true conditional.

Notes:
    The model may have more logits than the process has symbols (a
    :class:`~rnnlab.tasks.hmm.HMMTask` model also has one for the start symbol); the extra
    tokens are ones the process never emits, so their probability counts against the model
    in the KL (as it does in its cross-entropy), and free-running samples are drawn from
    the model's distribution conditioned on a real symbol (the extra logits dropped).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab._tree import state_leaves
from rnnlab.cells.base import State
from rnnlab.decoding import StepFn, sample
from rnnlab.tasks.hmm import HMMProcess

F64 = torch.float64


@runtime_checkable
class StepModel(Protocol):
    """What the exposure measures need of a model (a :class:`~rnnlab.models.LanguageModel`):
    its state before the first token, ``initial_state(batch)``, and one step,
    ``step(tokens (B,), state) -> (logits (B, V), state)``."""

    def initial_state(self, batch: int) -> State: ...

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]: ...


@runtime_checkable
class KnownProcess(Protocol):
    """A task whose true process is known (:class:`~rnnlab.tasks.hmm.HMMTask`), so exposure
    bias is measured exactly (:func:`exposure_bias`): the ``process``, the ``start_token``
    its sequences start from, their training length ``T`` and the entropy rate
    ``baseline`` (bits per symbol)."""

    process: HMMProcess
    start_token: int
    T: int
    baseline: float | None


def kl_to_model(p_true: Tensor, logits: Tensor) -> Tensor:
    r"""Per-position :math:`\mathrm{KL}(P \,\|\, Q) = \sum_v P_v (\log P_v - \log Q_v)`
    (nats, float64) with :math:`Q = \mathrm{softmax}(\text{logits})`.

    ``p_true (..., V)`` and ``logits (..., V')`` with ``V' >= V``: logits beyond ``V`` are
    tokens with :math:`P = 0`. Terms with :math:`P_v = 0` are 0. Returns ``(...)``.
    """
    V = p_true.shape[-1]
    if logits.shape[:-1] != p_true.shape[:-1] or logits.shape[-1] < V:
        raise ValueError(
            f"logits {tuple(logits.shape)} must match the true distributions "
            f"{tuple(p_true.shape)} with at least {V} tokens"
        )
    log_q = torch.log_softmax(logits.to(F64), -1)[..., :V]
    p = p_true.to(F64)
    terms = torch.where(p > 0, p * (p.log() - log_q), torch.zeros((), dtype=F64))
    return terms.sum(-1)


def _entropy(p: Tensor) -> Tensor:
    r""":math:`H(P) = -\sum_v P_v \log P_v` over the last dimension (nats)."""
    return -torch.xlogy(p, p).sum(-1)


def _quarter_ratio(curve: Tensor) -> float:
    """Mean of the last quarter of positions over the mean of the first quarter."""
    q = max(1, curve.numel() // 4)
    first = float(curve[:q].mean())
    return float(curve[-q:].mean()) / first if first > 0 else math.inf


def _slope(curve: Tensor) -> float:
    """Least-squares slope of ``curve`` against the position (per position)."""
    L = curve.numel()
    if L < 2:
        return 0.0
    t = torch.arange(1, L + 1, dtype=F64)
    t = t - t.mean()
    return float((t * (curve - curve.mean())).sum() / (t * t).sum())


def _sem(rows: Tensor) -> Tensor:
    """Standard error of the mean over the first dimension (0 for a single row)."""
    n = rows.shape[0]
    if n < 2:
        return torch.zeros(rows.shape[1:], dtype=F64)
    return rows.std(0) / math.sqrt(n)


@dataclass
class ExposureCurve:
    r"""Exact per-position KL of a model from the true process, free-running and
    teacher-forced (see :mod:`rnnlab.diagnostics.exposure`).

    Attributes:
        kl_rows: ``(N, L)`` :math:`\mathrm{KL}_t` of each free-running sequence (nats).
        kl_teacher_forced_rows: ``(N, L)`` the same along true sequences.
        entropy: ``(L,)`` mean :math:`H(P(\cdot \mid x_{<t}))` along free-running prefixes.
        entropy_teacher_forced: ``(L,)`` the same along true prefixes.
        tokens: ``(N, L)`` the free-running samples.
        tokens_teacher_forced: ``(N, L)`` the true sequences.
        kl: ``(L,)`` mean free-running KL at each position ``t = 1..L``.
        kl_teacher_forced: ``(L,)`` mean teacher-forced KL at each position.
    """

    kl_rows: Tensor
    kl_teacher_forced_rows: Tensor
    entropy: Tensor
    entropy_teacher_forced: Tensor
    tokens: Tensor
    tokens_teacher_forced: Tensor
    kl: Tensor = field(init=False)
    kl_teacher_forced: Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.kl = self.kl_rows.mean(0)
        self.kl_teacher_forced = self.kl_teacher_forced_rows.mean(0)

    @property
    def kl_se(self) -> Tensor:
        """``(L,)`` standard error of :attr:`kl` over the sequences."""
        return _sem(self.kl_rows)

    @property
    def kl_teacher_forced_se(self) -> Tensor:
        """``(L,)`` standard error of :attr:`kl_teacher_forced` over the sequences."""
        return _sem(self.kl_teacher_forced_rows)

    @property
    def mean_kl(self) -> float:
        """Free-running KL averaged over positions and sequences (nats per symbol)."""
        return float(self.kl.mean())

    @property
    def mean_kl_teacher_forced(self) -> float:
        """Teacher-forced KL averaged over positions and sequences (nats per symbol)."""
        return float(self.kl_teacher_forced.mean())

    @property
    def growth(self) -> float:
        """Free-running: mean KL of the last quarter of positions / of the first quarter."""
        return _quarter_ratio(self.kl)

    @property
    def growth_teacher_forced(self) -> float:
        """Teacher-forced: last-quarter mean KL / first-quarter mean KL."""
        return _quarter_ratio(self.kl_teacher_forced)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready curves (``kl_free``, ``kl_teacher_forced``, their standard errors and
        true entropies, per position) and summary numbers (means over positions with
        standard errors over sequences, quarter ratios, least-squares slopes per position,
        and ``free_over_teacher_forced``, the ratio of the two means)."""
        free_se = _sem(self.kl_rows.mean(1, keepdim=True))
        tf_se = _sem(self.kl_teacher_forced_rows.mean(1, keepdim=True))
        tf = self.mean_kl_teacher_forced
        return {
            "num_sequences": int(self.kl_rows.shape[0]),
            "length": int(self.kl_rows.shape[1]),
            "kl_free": self.kl.tolist(),
            "kl_teacher_forced": self.kl_teacher_forced.tolist(),
            "kl_free_se": self.kl_se.tolist(),
            "kl_teacher_forced_se": self.kl_teacher_forced_se.tolist(),
            "entropy_free": self.entropy.tolist(),
            "entropy_teacher_forced": self.entropy_teacher_forced.tolist(),
            "mean_kl_free": self.mean_kl,
            "mean_kl_free_se": float(free_se[0]),
            "mean_kl_teacher_forced": tf,
            "mean_kl_teacher_forced_se": float(tf_se[0]),
            "free_over_teacher_forced": self.mean_kl / tf if tf > 0 else math.inf,
            "growth_free": self.growth,
            "growth_teacher_forced": self.growth_teacher_forced,
            "slope_free": _slope(self.kl),
            "slope_teacher_forced": _slope(self.kl_teacher_forced),
        }


def _state_device(state: State) -> torch.device:
    leaves = state_leaves(state)
    return leaves[0].device if leaves else torch.device("cpu")


def _check_logits(logits: Tensor, batch: int, V: int) -> Tensor:
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != batch:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"step must return logits of shape ({batch}, V), got {shape}")
    if logits.shape[1] < V:
        raise ValueError(
            f"step returns {logits.shape[1]} logits, fewer than the process's {V} symbols"
        )
    return logits


def exposure_bias(
    step_fn: StepFn,
    initial_state_fn: Callable[[int], State],
    process: HMMProcess,
    num_sequences: int,
    length: int,
    generator: torch.Generator | None = None,
    start_token: int | None = None,
) -> ExposureCurve:
    r"""Per-position :math:`\mathrm{KL}(P_{true} \,\|\, Q_{model})` along free-running and
    teacher-forced prefixes.

    Teacher-forced: ``num_sequences`` sequences :math:`x_{1..L}` are drawn from ``process``;
    the model reads ``start_token, x_1, .., x_{L-1}`` and its distribution before each
    :math:`x_t` is compared with the exact :math:`P(x_t \mid x_{<t})`. Free-running: the
    model starts from ``start_token`` and samples its own continuation (temperature 1);
    at each position its distribution is compared with the true conditional given the
    generated prefix (the forward algorithm on the model's own samples).

    Args:
        step_fn: ``step(tokens (B,), state) -> (logits (B, V'), state)`` with ``V' >= V``
            (for a :class:`~rnnlab.models.LanguageModel`, ``model.step``; put it in eval
            mode so dropout is off, and call this inside ``rnnlab.cells.decoding(model)``
            so derived recurrent weights are computed once, not per token).
        initial_state_fn: ``batch -> state`` before ``start_token`` is read (for example
            ``lambda B: model.initial_state(B)``); its tensors' device is the model's.
        process: the true process.
        num_sequences: ``N``, prefixes averaged over at each position.
        length: ``L``, positions measured.
        generator: a CPU generator; the teacher-forced sequences are drawn first, so with
            the same seed every model is measured on the same true prefixes.
        start_token: the token that starts every sequence; ``V`` (the start symbol of
            :class:`~rnnlab.tasks.hmm.HMMTask`) by default.

    Returns:
        :class:`ExposureCurve` (float64 on the CPU).

    Example::

        task = HMMTask()
        curve = exposure_bias(model.step, lambda B: model.initial_state(B), task.process,
                              256, 64, torch.Generator().manual_seed(0))
        curve.kl, curve.kl_teacher_forced  # (64,), (64,)
    """
    check_positive("num_sequences", num_sequences)
    check_positive("length", length)
    V = process.num_symbols
    start = V if start_token is None else start_token
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start_token must be a non-negative token id, got {start_token!r}")
    N, L = num_sequences, length

    with torch.no_grad():
        # teacher-forced: the model reads true prefixes
        true_tokens = process.sample(N, L, generator)  # (N, L)
        state = initial_state_fn(N)
        device = _state_device(state)
        first = torch.full((N, 1), start, dtype=torch.long)
        inputs = torch.cat([first, true_tokens[:, :-1]], 1).to(device)  # (N, L)
        logits = []
        for token in inputs.unbind(1):
            z, state = step_fn(token, state)
            logits.append(_check_logits(z, N, V).to("cpu", F64))
        tf_logits = torch.stack(logits, 1)  # (N, L, V')

        # free-running: the model reads its own samples
        recorded: list[Tensor] = []

        def recording_step(token: Tensor, state: State) -> tuple[Tensor, State]:
            z, state = step_fn(token, state)
            recorded.append(_check_logits(z, N, V).to("cpu", F64))
            return z[:, :V], state  # sample real symbols only

        sampler = generator
        if generator is not None and device.type != "cpu":
            seed = int(torch.randint(2**62, (1,), generator=generator))
            sampler = torch.Generator(device).manual_seed(seed)
        starts = torch.full((N,), start, dtype=torch.long, device=device)
        free_tokens = sample(recording_step, initial_state_fn(N), starts, L, generator=sampler)
        free_tokens = free_tokens.cpu()
        free_logits = torch.stack(recorded, 1)  # (N, L, V')

    p_free = process.next_distributions(free_tokens)  # (N, L, V)
    p_true = process.next_distributions(true_tokens)  # (N, L, V)
    return ExposureCurve(
        kl_rows=kl_to_model(p_free, free_logits),
        kl_teacher_forced_rows=kl_to_model(p_true, tf_logits),
        entropy=_entropy(p_free).mean(0),
        entropy_teacher_forced=_entropy(p_true).mean(0),
        tokens=free_tokens,
        tokens_teacher_forced=true_tokens,
    )
