r"""Exposure bias on text, where the true distribution is unknown.

On the hidden Markov process (:mod:`rnnlab.diagnostics.exposure`) the true conditional of
any prefix is known and the per-position KL is exact. On text it is not, so this module
measures what *is* well defined. ``N`` positions :math:`p` are drawn uniformly from the
validation text (seeded, the same for every model); the model reads the ``C`` true
characters before :math:`p` (the context :math:`c`), then continues for ``L`` positions in
two ways:

* **teacher-forced**: it reads the true continuation :math:`x_1..x_L`
  (:math:`x_t = \text{text}[p + t - 1]`);
* **free-running**: it samples :math:`\hat x_t \sim Q(\cdot \mid c, \hat x_{<t})`
  (temperature 1) and feeds its own samples back.

Measures, per position :math:`t = 1..L`, averaged over the ``N`` prefixes:

1. **Predictive entropy** (nats) along both continuations,

   .. math::
       H^{fr}_t = \mathbb{E}\, H\big(Q(\cdot \mid c, \hat x_{<t})\big), \qquad
       H^{tf}_t = \mathbb{E}\, H\big(Q(\cdot \mid c, x_{<t})\big).

   If :math:`Q` were the data distribution, free-running prefixes would be distributed as
   true ones and :math:`H^{fr}_t = H^{tf}_t` at every :math:`t`; a systematic gap is a
   mismatch the model shows on its own prefixes (below: it collapses onto repetitive,
   over-confident text; above: it is lost in contexts it never saw). It is a necessary
   condition only: no gap does not prove the model right. The teacher-forced NLL
   :math:`-\log Q(x_t \mid c, x_{<t})` is reported beside them (its mean is the model's
   cross-entropy at these positions, and equals :math:`H^{tf}` for a calibrated model).
   The NLL of the model's own samples is not reported: its expectation is just
   :math:`H^{fr}_t`, and as a score it rewards collapsing onto the most likely path.

2. **n-gram divergence of the generated text** (nats): the Jensen-Shannon divergence

   .. math::
       \mathrm{JS}(P, R) = \tfrac12 \mathrm{KL}(P \,\|\, M) + \tfrac12 \mathrm{KL}(R \,\|\, M),
       \quad M = \tfrac12 (P + R),

   between :math:`P_b`, the empirical distribution of the n-grams (characters
   :math:`t-n+1..t`, reaching back into the context) ending in window :math:`b` of
   positions over the ``N`` free-running continuations, and :math:`R`, the n-gram
   distribution of the whole validation text. The same statistic on the ``N`` true
   continuations is the finite-sample floor, what a perfect model would score; free-running
   divergence above the floor, and its growth with :math:`t`, is drift of the generated
   text away from real text.

Not measured: the NLL of the true continuation after :math:`k` *generated* characters. The
true continuation is a sample of :math:`P(\cdot \mid \text{the true } k \text{ characters})`,
not of :math:`P(\cdot \mid c, \hat x_{1..k})`; a perfect model would score it worse after
its own (different but valid) :math:`k` characters too, so that number mixes exposure
bias with the text's legitimate dependence on what came before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells.base import State
from rnnlab.decoding import StepFn, sample
from rnnlab.diagnostics.exposure import _quarter_ratio, _sem, _slope, _state_device

F64 = torch.float64


@runtime_checkable
class TextSource(Protocol):
    """A task over a text (:class:`~rnnlab.tasks.charlm.CharLMTask`), whose exposure bias is
    measured on prefixes of it (:func:`text_exposure`): ``tokens(split)`` the split's text
    as ``(n,)`` token ids, ``corpus`` its name and ``metadata`` (``"source"``: where it came
    from)."""

    corpus: str
    metadata: dict[str, Any]

    def tokens(self, name: str) -> Tensor: ...


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    r""":math:`\mathrm{JS}(P, Q)` (nats, float64) over the last dimension of two
    distributions of the same shape; in :math:`[0, \log 2]`."""
    if p.shape != q.shape:
        raise ValueError(
            f"distributions must have one shape, got {tuple(p.shape)} and {tuple(q.shape)}"
        )
    p, q = p.to(F64), q.to(F64)
    m = (p + q) / 2
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum(-1)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum(-1)
    return (kl_pm + kl_qm) / 2


def ngram_ids(tokens: Tensor, n: int, base: int) -> Tensor:
    """``tokens (..., M)`` -> ``(..., M - n + 1)``: the id
    :math:`\\sum_k x_{t-k} \\, \\mathrm{base}^k` of the n-gram ending at each position
    from the ``n``-th on."""
    check_positive("n", n)
    if tokens.shape[-1] < n:
        raise ValueError(f"need at least n={n} tokens for an n-gram, got {tokens.shape[-1]}")
    if base**n >= 2**62:
        raise ValueError(f"{n}-grams over {base} symbols overflow 64-bit ids")
    M = tokens.shape[-1]
    ids = torch.zeros(*tokens.shape[:-1], M - n + 1, dtype=torch.long)
    for k in range(n):  # token t-k, t = n-1..M-1
        ids += tokens[..., n - 1 - k : M - k].long() * base**k
    return ids


def _windows(length: int, bins: int) -> list[Tensor]:
    """Positions ``0..length-1`` cut into ``min(bins, length)`` consecutive windows."""
    return list(torch.arange(length).tensor_split(min(bins, length)))


@dataclass
class TextExposureCurve:
    r"""Free-running against teacher-forced behaviour on text (see
    :mod:`rnnlab.diagnostics.exposure_text`).

    Attributes:
        entropy_free_rows: ``(N, L)`` :math:`H(Q(\cdot \mid c, \hat x_{<t}))` (nats).
        entropy_teacher_forced_rows: ``(N, L)`` :math:`H(Q(\cdot \mid c, x_{<t}))`.
        nll_teacher_forced_rows: ``(N, L)`` :math:`-\log Q(x_t \mid c, x_{<t})`.
        js_free: ``(W,)`` JS divergence of the free-running n-grams of each window from
            the text's.
        js_true: ``(W,)`` the same for the true continuations (the finite-sample floor).
        windows: ``W`` ``(first, last)`` positions (1-based, inclusive) of the windows.
        ngram: ``n``.
        tokens: ``(N, L)`` the free-running samples.
        tokens_true: ``(N, L)`` the true continuations.
        positions: ``(N,)`` where each continuation starts in the text.
    """

    entropy_free_rows: Tensor
    entropy_teacher_forced_rows: Tensor
    nll_teacher_forced_rows: Tensor
    js_free: Tensor
    js_true: Tensor
    windows: list[tuple[int, int]]
    ngram: int
    tokens: Tensor
    tokens_true: Tensor
    positions: Tensor

    @property
    def entropy_free(self) -> Tensor:
        """``(L,)`` mean free-running entropy at each position."""
        return self.entropy_free_rows.mean(0)

    @property
    def entropy_teacher_forced(self) -> Tensor:
        """``(L,)`` mean teacher-forced entropy at each position."""
        return self.entropy_teacher_forced_rows.mean(0)

    @property
    def nll_teacher_forced(self) -> Tensor:
        """``(L,)`` mean teacher-forced NLL of the true character at each position."""
        return self.nll_teacher_forced_rows.mean(0)

    @property
    def entropy_gap(self) -> Tensor:
        """``(L,)`` :math:`H^{fr}_t - H^{tf}_t`."""
        return self.entropy_free - self.entropy_teacher_forced

    @property
    def entropy_gap_se(self) -> Tensor:
        """``(L,)`` standard error of :attr:`entropy_gap` over the prefixes (paired: both
        entropies come from the same prefix)."""
        return _sem(self.entropy_free_rows - self.entropy_teacher_forced_rows)

    def entropy_gap_windows(self) -> tuple[Tensor, Tensor]:
        """``(W,)`` mean of :attr:`entropy_gap` over each window of positions (those of the
        n-gram divergence) and its standard error over the prefixes."""
        rows = self.entropy_free_rows - self.entropy_teacher_forced_rows
        per_window = torch.stack([rows[:, a - 1 : b].mean(1) for a, b in self.windows], 1)
        return per_window.mean(0), _sem(per_window)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready curves (per position: ``entropy_free``, ``entropy_teacher_forced``,
        ``nll_teacher_forced``, ``entropy_gap`` with standard errors over the prefixes;
        per window: ``entropy_gap_windows`` (with standard errors), ``js_free``,
        ``js_true``) and summary numbers: means over positions
        (standard errors over prefixes), the gap's least-squares slope per position and
        its mean over the first and the last quarter of positions, and ``js_free_over_true``
        (free-running n-gram divergence over its floor)."""
        gap_rows = self.entropy_free_rows - self.entropy_teacher_forced_rows  # paired
        q = max(1, gap_rows.shape[1] // 4)
        js_true = float(self.js_true.mean())

        def mean_se(rows: Tensor) -> tuple[float, float]:
            return float(rows.mean()), float(_sem(rows.mean(1, keepdim=True))[0])

        h_free, h_free_se = mean_se(self.entropy_free_rows)
        h_tf, h_tf_se = mean_se(self.entropy_teacher_forced_rows)
        nll, nll_se = mean_se(self.nll_teacher_forced_rows)
        gap, gap_se = mean_se(gap_rows)
        gap_windows, gap_windows_se = self.entropy_gap_windows()
        return {
            "num_sequences": int(gap_rows.shape[0]),
            "length": int(gap_rows.shape[1]),
            "ngram": self.ngram,
            "entropy_free": self.entropy_free.tolist(),
            "entropy_teacher_forced": self.entropy_teacher_forced.tolist(),
            "nll_teacher_forced": self.nll_teacher_forced.tolist(),
            "entropy_gap": self.entropy_gap.tolist(),
            "entropy_free_se": _sem(self.entropy_free_rows).tolist(),
            "entropy_teacher_forced_se": _sem(self.entropy_teacher_forced_rows).tolist(),
            "entropy_gap_se": self.entropy_gap_se.tolist(),
            "windows": [list(w) for w in self.windows],
            "entropy_gap_windows": gap_windows.tolist(),
            "entropy_gap_windows_se": gap_windows_se.tolist(),
            "js_free": self.js_free.tolist(),
            "js_true": self.js_true.tolist(),
            "mean_entropy_free": h_free,
            "mean_entropy_free_se": h_free_se,
            "mean_entropy_teacher_forced": h_tf,
            "mean_entropy_teacher_forced_se": h_tf_se,
            "mean_nll_teacher_forced": nll,
            "mean_nll_teacher_forced_se": nll_se,
            "mean_entropy_gap": gap,
            "mean_entropy_gap_se": gap_se,
            "entropy_gap_first_quarter": float(gap_rows[:, :q].mean()),
            "entropy_gap_last_quarter": float(gap_rows[:, -q:].mean()),
            "slope_entropy_gap": _slope(self.entropy_gap),
            "mean_js_free": float(self.js_free.mean()),
            "mean_js_true": js_true,
            "js_free_over_true": float(self.js_free.mean()) / js_true if js_true > 0 else math.inf,
            "growth_js_free": _quarter_ratio(self.js_free),
        }


def text_exposure(
    step_fn: StepFn,
    initial_state_fn: Callable[[int], State],
    text: Tensor,
    num_sequences: int,
    length: int,
    context: int = 128,
    generator: torch.Generator | None = None,
    ngram: int = 2,
    windows: int = 16,
) -> TextExposureCurve:
    r"""Free-running against teacher-forced continuations of prefixes of ``text`` (see
    :mod:`rnnlab.diagnostics.exposure_text`).

    Args:
        step_fn: ``step(tokens (B,), state) -> (logits (B, V), state)`` (for a
            :class:`~rnnlab.models.LanguageModel` in eval mode, ``model.step``, called
            inside ``rnnlab.cells.decoding(model)``).
        initial_state_fn: ``batch -> state`` before the context is read.
        text: ``(n,)`` long token ids, the text the prefixes are taken from (the
            validation text), ``n >= context + length``.
        num_sequences: ``N`` prefixes.
        length: ``L`` positions measured after each prefix.
        context: ``C >= 1`` true characters read before position 1.
        generator: a CPU generator; the positions are drawn first, so with the same seed
            every model sees the same prefixes and true continuations.
        ngram: ``n`` of the n-gram statistics.
        windows: position windows of the n-gram divergence (at most ``L``).

    Returns:
        :class:`TextExposureCurve` (float64 on the CPU).

    Example::

        curve = text_exposure(lm.step, lambda B: lm.initial_state(B), task.tokens("val"),
                              256, 200, generator=torch.Generator().manual_seed(0))
        curve.entropy_free, curve.entropy_teacher_forced, curve.js_free, curve.js_true
    """
    check_positive("num_sequences", num_sequences)
    check_positive("length", length)
    check_positive("context", context)
    check_positive("windows", windows)
    if not isinstance(text, Tensor) or text.dim() != 1 or text.dtype.is_floating_point:
        raise ValueError("text must be a 1-D tensor of token ids")
    n = int(text.numel())
    if n < context + length:
        raise ValueError(
            f"text of {n} tokens is too short for context {context} + length {length}; "
            "lower --context or --length"
        )
    if ngram > context + 1:
        raise ValueError(f"ngram={ngram} reaches back further than the context ({context})")
    N, L, C = num_sequences, length, context
    text = text.long().cpu()
    positions = torch.randint(C, n - L + 1, (N,), generator=generator)  # (N,) p
    before = positions[:, None] + torch.arange(-C, 0)  # (N, C) the context
    prefix = text[before]
    true = text[positions[:, None] + torch.arange(L)]  # (N, L)

    with torch.no_grad():
        state = initial_state_fn(N)
        device = _state_device(state)
        for token in prefix[:, :-1].to(device).unbind(1):  # read c but its last character
            _, state = step_fn(token, state)
        start = prefix[:, -1].to(device)

        # teacher-forced: the true continuation
        tf_logits = []
        tf_state = state
        inputs = torch.cat([start[:, None], true[:, :-1].to(device)], 1)  # (N, L)
        for token in inputs.unbind(1):
            z, tf_state = step_fn(token, tf_state)
            tf_logits.append(z.to("cpu", F64))
        log_q_tf = torch.log_softmax(torch.stack(tf_logits, 1), -1)  # (N, L, V)

        # free-running from the same state
        free_logits: list[Tensor] = []

        def recording_step(token: Tensor, s: State) -> tuple[Tensor, State]:
            z, s = step_fn(token, s)
            free_logits.append(z.to("cpu", F64))
            return z, s

        sampler = generator
        if generator is not None and device.type != "cpu":
            seed = int(torch.randint(2**62, (1,), generator=generator))
            sampler = torch.Generator(device).manual_seed(seed)
        free = sample(recording_step, state, start, L, generator=sampler).cpu()  # (N, L)
        log_q_free = torch.log_softmax(torch.stack(free_logits, 1), -1)

    def entropy(log_q: Tensor) -> Tensor:  # -sum_v q_v log q_v, with 0 log 0 = 0
        q = log_q.exp()
        return -torch.where(q > 0, q * log_q, torch.zeros((), dtype=F64)).sum(-1)

    nll = -log_q_tf.gather(-1, true.unsqueeze(-1)).squeeze(-1)

    # n-gram statistics: ids compacted over everything counted
    base = int(max(int(text.max()), int(free.max()))) + 1
    tail = prefix[:, C - (ngram - 1) :]  # (N, n-1) context characters the first n-grams use
    reference = ngram_ids(text, ngram, base)
    free_ids = ngram_ids(torch.cat([tail, free], 1), ngram, base)  # (N, L)
    true_ids = ngram_ids(torch.cat([tail, true], 1), ngram, base)  # (N, L)
    _, inverse = torch.unique(
        torch.cat([reference, free_ids.flatten(), true_ids.flatten()]), return_inverse=True
    )
    size = int(inverse.max()) + 1
    ref_idx = inverse[: reference.numel()]
    free_idx = inverse[reference.numel() : reference.numel() + free_ids.numel()].view(N, L)
    true_idx = inverse[reference.numel() + free_ids.numel() :].view(N, L)

    def distribution(ids: Tensor) -> Tensor:
        counts = torch.bincount(ids.flatten(), minlength=size).to(F64)
        return counts / counts.sum()

    r = distribution(ref_idx)
    cuts = _windows(L, windows)
    js_free = torch.stack([js_divergence(distribution(free_idx[:, w]), r) for w in cuts])
    js_true = torch.stack([js_divergence(distribution(true_idx[:, w]), r) for w in cuts])
    return TextExposureCurve(
        entropy_free_rows=entropy(log_q_free),
        entropy_teacher_forced_rows=entropy(log_q_tf),
        nll_teacher_forced_rows=nll,
        js_free=js_free,
        js_true=js_true,
        windows=[(int(w[0]) + 1, int(w[-1]) + 1) for w in cuts],
        ngram=ngram,
        tokens=free,
        tokens_true=true,
        positions=positions,
    )
