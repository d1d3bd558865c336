r"""A random hidden Markov process: a sequence task whose true distribution is known.

The process has hidden states :math:`z_t \in \{0..K-1\}` and symbols
:math:`x_t \in \{0..V-1\}`:

.. math::
    z_1 \sim \pi, \quad z_{t+1} \mid z_t \sim A_{z_t, \cdot}, \quad
    x_t \mid z_t \sim E_{z_t, \cdot}

so for any prefix the exact next-symbol distribution follows from the forward algorithm.
With :math:`b_t(k) = P(z_t = k \mid x_{<t})` (the predictive belief, :math:`b_1 = \pi`):

.. math::
    P(x_t = v \mid x_{<t}) = \sum_k b_t(k) E_{k v}, \qquad
    b_{t+1}(j) = \frac{\sum_k b_t(k) E_{k x_t} A_{k j}}{\sum_k b_t(k) E_{k x_t}}

and :math:`\log P(x_{1..L}) = \sum_t \log P(x_t \mid x_{<t})`. Everything is float64.

The random process (:class:`HMMProcess`) has slow "regimes": the states are cut into
``num_blocks`` blocks; within a block the chain follows a sparse random graph (a cycle
through the block plus ``fanout - 1`` random successors, Dirichlet weights), and it leaves
the block only with probability ``switch_prob`` per step (to a uniform state of another
block), so a regime lasts ``1 / switch_prob`` steps on average (50 by default) and a
model must infer it from the history and keep it. Emissions are Dirichlet-random per
state, so states (and regimes) are only identifiable from several symbols. The initial
distribution is the chain's stationary distribution.

:class:`HMMTask` (registered as ``hmm``) is next-symbol prediction on sequences of this
process; :mod:`rnnlab.diagnostics.exposure` uses the exact conditionals to measure exposure
bias.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import Tensor

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab.tasks.base import Batch, GeneratedTask, StreamEvaluation

F64 = torch.float64


class BeliefState(NamedTuple):
    """State of the exact predictor: ``belief (B, K)``, :math:`P(z_{next} \\mid` tokens read)."""

    belief: Tensor


def _check_stochastic(name: str, matrix: Tensor, dims: int) -> Tensor:
    m = torch.as_tensor(matrix).to(F64)
    if m.dim() != dims:
        raise ValueError(f"{name} must have {dims} dimension(s), got shape {tuple(m.shape)}")
    if not bool(torch.isfinite(m).all()) or bool((m < 0).any()):
        raise ValueError(f"{name} must hold finite non-negative probabilities")
    sums = m.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-9, rtol=0.0):
        worst = float((sums - 1).abs().max())
        raise ValueError(f"rows of {name} must sum to 1, off by up to {worst:.3g}")
    return m / m.sum(-1, keepdim=True)


def random_hmm_parameters(
    num_states: int,
    num_symbols: int,
    seed: int,
    num_blocks: int = 4,
    fanout: int = 3,
    switch_prob: float = 0.02,
    emission_concentration: float = 0.1,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""``(transition (K, K), emission (K, V), initial (K,))`` of a random regime HMM.

    State ``k`` lies in block ``k * num_blocks // K``. From ``k`` the chain moves, with
    total probability ``1 - switch_prob``, to the next state of its block's cycle and to
    ``fanout - 1`` further random states of its block (weights ~ Dirichlet(1)); with
    probability ``switch_prob`` to a uniformly chosen state outside its block (none when
    ``num_blocks == 1``). The cycle makes every block strongly connected, so the chain is
    irreducible and :math:`\pi` (its stationary distribution, :math:`\pi A = \pi`) is unique.
    Emission rows are ~ Dirichlet(``emission_concentration``). Fixed by ``seed``.
    """
    check_positive("num_states", num_states)
    check_positive("num_symbols", num_symbols)
    check_positive("fanout", fanout)
    if not 1 <= num_blocks <= num_states:
        raise ValueError(f"num_blocks must lie in [1, num_states={num_states}], got {num_blocks}")
    check_unit_interval("switch_prob", switch_prob)
    if not emission_concentration > 0:
        raise ValueError(f"emission_concentration must be positive, got {emission_concentration}")
    rng = np.random.default_rng(seed)
    K = num_states
    block = np.arange(K) * num_blocks // K  # (K,) block of every state
    A = np.zeros((K, K))
    for k in range(K):
        members = np.flatnonzero(block == block[k])
        cycle_next = members[(np.searchsorted(members, k) + 1) % len(members)]
        extra = rng.choice(members, size=min(fanout, len(members)), replace=False)
        successors = np.unique(np.concatenate([[cycle_next], extra[: max(0, fanout - 1)]]))
        stay = 1.0 - switch_prob if num_blocks > 1 else 1.0
        A[k, successors] = stay * rng.dirichlet(np.ones(len(successors)))
        if num_blocks > 1:
            outside = block != block[k]
            A[k, outside] += switch_prob / outside.sum()
    E = rng.dirichlet(np.full(num_symbols, emission_concentration), size=K)
    transition = torch.from_numpy(A / A.sum(1, keepdims=True))
    emission = torch.from_numpy(E / E.sum(1, keepdims=True))
    return transition, emission, stationary_distribution(transition)


def stationary_distribution(transition: Tensor) -> Tensor:
    r"""The :math:`\pi` with :math:`\pi A = \pi`, :math:`\sum_k \pi_k = 1` of an irreducible
    chain (least squares on :math:`[A^\top - I; 1^\top] \pi = [0; 1]`)."""
    A = transition.to(F64)
    K = A.shape[0]
    lhs = torch.cat([A.T - torch.eye(K, dtype=F64), torch.ones(1, K, dtype=F64)])  # (K+1, K)
    rhs = torch.cat([torch.zeros(K, dtype=F64), torch.ones(1, dtype=F64)])  # (K+1,)
    pi = torch.linalg.lstsq(lhs, rhs.unsqueeze(1)).solution.squeeze(1).clamp(min=0.0)
    return pi / pi.sum()


class HMMProcess:
    r"""A hidden Markov process with exact conditionals by the forward algorithm.

    ``HMMProcess(K, V, seed)`` draws the random regime process of
    :func:`random_hmm_parameters`; :meth:`from_parameters` takes given matrices.

    Attributes:
        transition: ``(K, K)`` float64, :math:`A_{kj} = P(z_{t+1} = j \mid z_t = k)`.
        emission: ``(K, V)`` float64, :math:`E_{kv} = P(x_t = v \mid z_t = k)`.
        initial: ``(K,)`` float64, :math:`\pi_k = P(z_1 = k)`.

    Example::

        process = HMMProcess(32, 16, seed=0)
        x = process.sample(8, 64, torch.Generator().manual_seed(0))  # (8, 64)
        p = process.next_distributions(x)  # (8, 64, 16): P(x_t | x_<t)
    """

    transition: Tensor
    emission: Tensor
    initial: Tensor

    def __init__(
        self,
        num_states: int = 32,
        num_symbols: int = 16,
        seed: int = 0,
        *,
        num_blocks: int = 4,
        fanout: int = 3,
        switch_prob: float = 0.02,
        emission_concentration: float = 0.1,
    ) -> None:
        self._set(
            *random_hmm_parameters(
                num_states,
                num_symbols,
                seed,
                num_blocks=num_blocks,
                fanout=fanout,
                switch_prob=switch_prob,
                emission_concentration=emission_concentration,
            )
        )

    @classmethod
    def from_parameters(cls, transition: Tensor, emission: Tensor, initial: Tensor) -> HMMProcess:
        """A process with the given (row-stochastic) ``transition (K, K)``,
        ``emission (K, V)`` and ``initial (K,)``."""
        process = cls.__new__(cls)
        process._set(transition, emission, initial)
        return process

    def _set(self, transition: Tensor, emission: Tensor, initial: Tensor) -> None:
        A = _check_stochastic("transition", transition, 2)
        E = _check_stochastic("emission", emission, 2)
        pi = _check_stochastic("initial", initial, 1)
        K = A.shape[0]
        if A.shape != (K, K) or E.shape[0] != K or pi.shape != (K,):
            raise ValueError(
                f"shapes must be transition (K, K), emission (K, V), initial (K,); got "
                f"{tuple(A.shape)}, {tuple(E.shape)}, {tuple(pi.shape)}"
            )
        self.transition, self.emission, self.initial = A, E, pi

    @property
    def num_states(self) -> int:
        return int(self.transition.shape[0])

    @property
    def num_symbols(self) -> int:
        return int(self.emission.shape[1])

    # -- the forward algorithm, one step at a time ----------------------------------------
    def initial_belief(self, batch: int) -> Tensor:
        r"""``(B, K)``: :math:`b_1 = \pi` for every row."""
        return self.initial.expand(batch, -1).clone()

    def predict(self, belief: Tensor) -> Tensor:
        r"""``(B, V)``: :math:`P(x_t = v \mid x_{<t}) = \sum_k b_t(k) E_{kv}`."""
        return belief @ self.emission

    def update(self, belief: Tensor, token: Tensor) -> Tensor:
        r"""``(B, K)``: :math:`b_{t+1} \propto (b_t \odot E_{\cdot x_t}) A` after reading
        ``token (B,)``."""
        self._check_tokens(token, self.num_symbols)
        posterior = belief * self.emission[:, token].T  # (B, K): P(z_t, x_t | x_<t)
        norm = posterior.sum(-1, keepdim=True)  # (B, 1): P(x_t | x_<t)
        if bool((norm <= 0).any()):
            raise ValueError("a token has probability 0 under the process after its prefix")
        return (posterior / norm) @ self.transition

    # -- whole sequences ------------------------------------------------------------------
    def next_distributions(self, tokens: Tensor) -> Tensor:
        r"""``(B, L, V)`` float64: row ``t`` is :math:`P(x_t \mid x_{<t})`, the exact
        distribution of ``tokens[:, t]`` given the tokens before it (row 0: the first
        symbol's, :math:`\pi E`). Rows sum to 1. The distribution after the last token is
        ``process.predict(belief)`` with the belief after reading the whole prefix.
        """
        tokens = self._check_tokens(tokens, self.num_symbols, dims=2)
        belief = self.initial_belief(tokens.shape[0])  # (B, K)
        out = []
        for token in tokens.unbind(1):
            p = self.predict(belief)  # (B, V)
            out.append(p / p.sum(-1, keepdim=True))
            belief = self.update(belief, token)
        if not out:
            return torch.zeros(tokens.shape[0], 0, self.num_symbols, dtype=F64)
        return torch.stack(out, 1)

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        r"""``(B,)`` float64: :math:`\log P(x_{1..L}) = \sum_t \log P(x_t \mid x_{<t})`
        (nats)."""
        p = self.next_distributions(tokens)  # (B, L, V)
        return p.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1).log().sum(-1)

    def sample(self, batch: int, length: int, generator: torch.Generator | None = None) -> Tensor:
        """``(B, L)`` long: ``batch`` independent sequences of ``length`` symbols."""
        check_positive("batch", batch)
        check_positive("length", length)
        z = torch.multinomial(self.initial.expand(batch, -1), 1, generator=generator)  # (B, 1)
        z = z.squeeze(1)
        out = []
        for t in range(length):
            x = torch.multinomial(self.emission[z], 1, generator=generator).squeeze(1)
            out.append(x)
            if t + 1 < length:
                z = torch.multinomial(self.transition[z], 1, generator=generator).squeeze(1)
        return torch.stack(out, 1)

    # -- the process as a generator with one step (the exact model) -----------------------
    def initial_state(self, batch: int) -> BeliefState:
        """The state of :meth:`step` before anything is read."""
        return BeliefState(self.initial_belief(batch))

    def step(self, token: Tensor, state: BeliefState) -> tuple[Tensor, BeliefState]:
        r"""The exact model as a decoding step: read ``token (B,)``, return
        :math:`\log P(x_{next} \mid \text{tokens read})` ``(B, V)`` and the new state.

        Token id ``V`` is the start symbol of :class:`HMMTask`: it reads nothing, so the
        first call with it gives the first symbol's distribution.
        """
        V = self.num_symbols
        token = self._check_tokens(token, V + 1)
        symbol = token != V  # (B,) rows that read a symbol
        belief = state.belief.clone()
        if bool(symbol.any()):
            belief[symbol] = self.update(belief[symbol], token[symbol])
        return self.predict(belief).log(), BeliefState(belief)

    @staticmethod
    def _check_tokens(tokens: Tensor, limit: int, dims: int = 1) -> Tensor:
        if not isinstance(tokens, Tensor) or tokens.dim() != dims:
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must be a {dims}-D tensor of symbol ids, got {shape}")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex:
            raise ValueError(f"tokens must hold integer symbol ids, got dtype {tokens.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= limit):
            raise ValueError(
                f"symbol ids must lie in [0, {limit}), got [{int(tokens.min())}, "
                f"{int(tokens.max())}]"
            )
        return tokens.long()


class HMMTask(GeneratedTask, StreamEvaluation):
    r"""Next-symbol prediction on a random hidden Markov process whose distribution is known.

    Each example is one sequence :math:`x_1..x_T` of :class:`HMMProcess` (``T`` = 64 by
    default), fresh for every training batch; ``val`` and ``test`` are 1000 sequences each,
    fixed by ``seed``. The process itself is fixed by ``process_seed`` (0), independent of
    ``seed``, so runs with different seeds are replicates on the same distribution.

    Layout (kind ``lm``, ``stateful`` False: rows are independent sequences): a start
    symbol with id ``V`` is prepended so the first symbol is predicted too,
    ``x = [V, x_1, .., x_{T-1}]`` and ``y = [x_1, .., x_T]``, both ``(B, T)`` long. So
    ``input_size = V + 1`` and ``output_size = V``. A language model built for the task
    (:func:`rnnlab.models.build_model`, kind ``lm``) embeds ``V + 1`` tokens and has ``V``
    logits: the start symbol is read, never predicted.

    Metrics: ``loss`` (nats per symbol) and ``bpc`` (bits per symbol, the main metric).
    The baseline is the true process's entropy rate estimated on the ``test`` split, the
    mean :math:`-\log_2 P(x_t \mid x_{<t})` under the true model, i.e. the ``bpc`` of a
    perfect model, so ``bpc - baseline`` is the model's mean KL divergence from the truth
    in bits (up to sampling noise).
    """

    name: ClassVar[str] = "hmm"
    description: ClassVar[str] = (
        "known distribution: next symbol of a random hidden Markov process (32 states, "
        "16 symbols, slow regimes); baseline = its entropy rate"
    )
    defaults: ClassVar[dict[str, Any]] = dict(
        model="lstm",
        hidden_size=64,
        batch_size=64,
        steps=1500,
        lr=3e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=250,
    )

    def __init__(
        self,
        T: int = 64,
        seed: int = 0,
        num_states: int = 32,
        num_symbols: int = 16,
        process_seed: int = 0,
    ) -> None:
        check_positive("T", T)
        self.T = self.eval_chunk = T
        self.seed = seed
        self.process = HMMProcess(num_states, num_symbols, process_seed)
        self.start_token = num_symbols
        self.kind = "lm"
        self.input_size = num_symbols + 1
        self.output_size = num_symbols
        self.main_metric = "bpc"
        self.higher_is_better = False
        test = self.split("test").targets
        nll = -self.process.log_likelihood(test).sum() / test.numel()
        self.baseline = float(nll) / math.log(2)

    def options(self) -> dict[str, Any]:
        return {"T": self.T}

    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        tokens = self.process.sample(batch_size, self.T, generator)  # (B, T)
        start = torch.full((batch_size, 1), self.start_token, dtype=torch.long)
        return Batch(torch.cat([start, tokens[:, :-1]], 1), tokens)
