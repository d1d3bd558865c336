r"""Professor forcing (Lamb, Goyal, Zhang, Zhang, Courville & Bengio 2016).

Teacher forcing trains a generator on its behaviour when fed the true previous tokens; at
generation time it is fed its own samples and its hidden states may wander where training
never took them (exposure bias). Professor forcing adds a discriminator :math:`D` that
reads a *behaviour sequence*, the hidden states :math:`b = (h_1, .., h_T)` of a run, and
tells a teacher-forced run :math:`b^{tf}` (inputs :math:`x_1..x_T` from the data) from a
free-running one :math:`b^{fr}` (same starting state and first token :math:`x_1`, then
each input sampled from the model's own previous prediction, :math:`T` steps). With
:math:`D(b) = P(\text{teacher-forced} \mid b)`:

.. math::
    L_D = -\log D(b^{tf}) - \log\big(1 - D(b^{fr})\big), \qquad
    L_G = \underbrace{-\textstyle\sum_t \log Q(x_{t+1} \mid x_{\le t})}_{\text{teacher-forced NLL}}
        \; + \; w \,\big(-\log D(b^{fr})\big)

:math:`D` is trained on :math:`L_D` with its own Adam optimiser (on detached behaviours);
the generator minimises :math:`L_G`: the likelihood, plus a term that makes its
free-running dynamics look teacher-forced. The sampled tokens are discrete and are not
differentiated through; the gradient of the adversarial term reaches the generator's
parameters through the free-running hidden states (back-propagation through the whole
free-running trajectory), as in the paper. Lamb et al. also describe an optional second
generator term, :math:`-\log(1 - D(b^{tf}))`, which pulls the teacher-forced behaviour
towards the free-running one; it is not implemented here (the free-running term is the
one that targets exposure bias).

As in the paper, both updates are gated on the discriminator's accuracy on the current
batch (before its update): :math:`D` is trained only while its accuracy is below
``d_max_accuracy`` (99%), and the adversarial term is applied only once the accuracy is
above ``g_min_accuracy`` (75%), so the generator follows a discriminator that has learnt
something and :math:`D` does not saturate.

Discriminator (:class:`Discriminator`): a bidirectional GRU over :math:`b` (PyTorch's
``nn.GRU``), its two final states concatenated, then an MLP with one hidden ReLU layer to
one logit.

Models: anything with the one-step protocol ``step(tokens, state) -> (logits, state)``.
The behaviour at each step is ``h_t`` from ``step_hidden(tokens, state) -> (logits, h_t,
state)`` when the model has it (:class:`~rnnlab.models.LanguageModel`: the top layer's
output), else the state's floating-point and complex tensors after the step as one real
vector (:func:`rnnlab._tree.flatten_state`; an encoder-decoder's decoder needs no more than
``step``). ``forward_hidden(x, state) ->
(logits, hidden, state)``, when present, computes the teacher-forced run in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval
from rnnlab._tree import flatten_state
from rnnlab.cells import decoding
from rnnlab.cells.base import State
from rnnlab.training.config import TrainConfig
from rnnlab.training.distributed import average_gradients, sample_rows, sum_across

HiddenStepFn = Callable[[Tensor, State], tuple[Tensor, Tensor, State]]
"""``step(tokens (B,), state) -> (logits (B, V), behaviour (B, H), state)``."""


class Discriminator(nn.Module):
    r"""``b (B, T, H)`` -> logit ``(B,)`` of :math:`P(\text{teacher-forced} \mid b)`.

    .. math::
        (\overrightarrow{g}_T, \overleftarrow{g}_1) = \mathrm{BiGRU}(b), \qquad
        D(b) = \sigma\big(w_2^\top \mathrm{ReLU}(W_1 [\overrightarrow{g}_T;
        \overleftarrow{g}_1] + c_1) + c_2\big)

    Args:
        input_size: ``H``, features of each behaviour vector.
        hidden_size: GRU units per direction.
        mlp_size: hidden units of the MLP.
    """

    def __init__(self, input_size: int, hidden_size: int = 64, mlp_size: int = 64) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("mlp_size", mlp_size)
        self.rnn = nn.GRU(input_size, hidden_size, batch_first=True, bidirectional=True)
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden_size, mlp_size), nn.ReLU(), nn.Linear(mlp_size, 1)
        )
        self.input_size = input_size

    def forward(self, behaviour: Tensor) -> Tensor:
        if behaviour.dim() != 3 or behaviour.shape[-1] != self.input_size:
            raise ValueError(
                f"behaviour must have shape (B, T, {self.input_size}), got {tuple(behaviour.shape)}"
            )
        _, last = self.rnn(behaviour)  # (2, B, G): forward's last state, backward's first
        return self.mlp(torch.cat([last[0], last[1]], dim=-1)).squeeze(-1)  # (B,)


def hidden_step(model: nn.Module) -> HiddenStepFn:
    """The model's ``step_hidden``, or its ``step`` with the flattened new state as the
    behaviour (see the module docstring)."""
    step_hidden = getattr(model, "step_hidden", None)
    if callable(step_hidden):
        return step_hidden
    step = getattr(model, "step", None)
    if not callable(step):
        raise TypeError(f"professor forcing needs a model with step(), got {type(model).__name__}")

    def wrapped(tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        logits, state = step(tokens, state)
        return logits, flatten_state(state), state

    return wrapped


def teacher_forced_run(
    model: nn.Module, x: Tensor, state: State | None = None
) -> tuple[Tensor, Tensor, State]:
    """Read ``x (B, T)``: logits ``(B, T, V)``, behaviour ``(B, T, H)``, final state."""
    forward_hidden = getattr(model, "forward_hidden", None)
    if callable(forward_hidden):
        result: tuple[Tensor, Tensor, State] = forward_hidden(x, state)
        return result
    step = hidden_step(model)
    logits: list[Tensor] = []
    hidden: list[Tensor] = []
    with decoding(model):  # derived recurrent weights once, not per token
        for token in x.unbind(1):
            z, h, state = step(token, state)
            logits.append(z)
            hidden.append(h)
    return torch.stack(logits, 1), torch.stack(hidden, 1), state


def free_running_run(
    model: nn.Module,
    start: Tensor,
    length: int,
    state: State | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Read ``start (B,)``, then ``length - 1`` tokens each sampled from the model's previous
    prediction (temperature 1; the samples carry no gradient, the states do).

    Returns logits ``(B, L, V)``, behaviour ``(B, L, H)`` and the tokens read ``(B, L)``
    (``start`` first).
    """
    check_positive("length", length)
    step = hidden_step(model)
    token = start
    logits: list[Tensor] = []
    hidden: list[Tensor] = []
    tokens: list[Tensor] = []
    with decoding(model):  # derived recurrent weights once, not per token
        for t in range(length):
            if t > 0:
                probs = torch.softmax(logits[-1].detach().float(), dim=-1)
                token = sample_rows(probs, generator)  # torch.multinomial, row by row
            z, h, state = step(token, state)
            logits.append(z)
            hidden.append(h)
            tokens.append(token)
    return torch.stack(logits, 1), torch.stack(hidden, 1), torch.stack(tokens, 1)


def discriminator_loss(
    discriminator: nn.Module, teacher_forced: Tensor, free_running: Tensor
) -> tuple[Tensor, float]:
    r""":math:`L_D` (mean over the batch of each run) and the accuracy of
    :math:`D(b) > 1/2` on the ``2B`` behaviours (under ``torchrun``: on the global batch's,
    so that every rank opens the same gates)."""
    B = teacher_forced.shape[0]
    logit = discriminator(torch.cat([teacher_forced, free_running]))  # (2B,): one pass
    tf_logit, fr_logit = logit[:B], logit[B:]
    loss = F.binary_cross_entropy_with_logits(
        tf_logit, torch.ones_like(tf_logit)
    ) + F.binary_cross_entropy_with_logits(fr_logit, torch.zeros_like(fr_logit))
    correct = (tf_logit > 0).sum() + (fr_logit <= 0).sum()
    counts = torch.stack([correct.float(), torch.tensor(2.0 * B, device=correct.device)])
    correct_all, seen_all = sum_across(counts.detach()).tolist()
    return loss, correct_all / seen_all


def generator_term(discriminator: nn.Module, free_running: Tensor) -> Tensor:
    r""":math:`-\log D(b^{fr})`, mean over the batch: small when the free-running behaviour
    looks teacher-forced. The gradient flows into ``free_running`` but not into the
    discriminator's parameters."""
    flags = [p.requires_grad for p in discriminator.parameters()]
    for p in discriminator.parameters():
        p.requires_grad_(False)
    try:
        logit = discriminator(free_running)
    finally:
        for p, flag in zip(discriminator.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))


def behaviour_size(model: nn.Module) -> int:
    """``H`` of the model's behaviour vectors: the top layer's width for a model with
    ``layers.output_size``, else measured with one step from the initial state."""
    layers = getattr(model, "layers", None)
    size = getattr(layers, "output_size", None)
    if callable(getattr(model, "step_hidden", None)) and isinstance(size, int):
        return size
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, h, _ = hidden_step(model)(torch.zeros(1, dtype=torch.long, device=device), None)
    finally:
        model.train(was_training)
    return int(h.shape[-1])


class ProfessorForcing:
    """The discriminator, its Adam optimiser and the per-step protocol of the training loop.

    Each training step calls :meth:`forward`, which runs the model teacher-forced and free
    running from the same state, updates the discriminator (gated by accuracy) and returns
    the teacher-forced logits for the likelihood loss plus the weighted adversarial term to
    add to it. :meth:`state_dict` / :meth:`load_state_dict` carry the discriminator and its
    optimiser through ``trainer.pt`` for an exact ``--resume``.

    Args:
        behaviour_size: ``H`` (see :func:`behaviour_size`).
        weight: :math:`w`, the adversarial term's weight (0: only measure the
            discriminator's accuracy; the generator trains by teacher forcing).
        lr: the discriminator's Adam learning rate.
        hidden_size, mlp_size: the discriminator's GRU and MLP widths.
        d_max_accuracy: train the discriminator only while its batch accuracy is below this.
        g_min_accuracy: apply the adversarial term only when the accuracy is above this.
        device: where the discriminator lives.

    Example::

        pf = ProfessorForcing(behaviour_size(lm), weight=1.0)
        logits, state, adversarial = pf.forward(lm, x)
        (F.cross_entropy(logits.flatten(0, 1), y.flatten()) + adversarial).backward()
    """

    def __init__(
        self,
        behaviour_size: int,
        weight: float = 1.0,
        lr: float = 1e-3,
        hidden_size: int = 64,
        mlp_size: int = 64,
        d_max_accuracy: float = 0.99,
        g_min_accuracy: float = 0.75,
        device: torch.device | str | None = None,
    ) -> None:
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"professor-forcing weight must be >= 0, got {weight}")
        if not lr > 0:
            raise ValueError(f"discriminator learning rate must be positive, got {lr}")
        for name, value in (("d_max_accuracy", d_max_accuracy), ("g_min_accuracy", g_min_accuracy)):
            check_unit_interval(name, value, closed=True)
        self.discriminator = Discriminator(behaviour_size, hidden_size, mlp_size).to(device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr)
        self.weight = weight
        self.d_max_accuracy = d_max_accuracy
        self.g_min_accuracy = g_min_accuracy
        self._window: dict[str, float] = {}

    def forward(
        self,
        model: nn.Module,
        x: Tensor,
        state: State | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, State, Tensor]:
        """One training step's forward pass over ``x (B, T)`` from ``state``.

        Returns the teacher-forced logits ``(B, T, V)``, the teacher-forced final state (to
        carry to the next batch) and :math:`w \\cdot (-\\log D(b^{fr}))` (a 0-dim tensor;
        exactly 0, with no graph, when ``weight`` is 0 or the accuracy gate is closed).
        The discriminator is updated here.
        """
        if x.dim() != 2:
            raise ValueError(f"input must be token ids of shape (B, T), got {tuple(x.shape)}")
        logits, tf_hidden, state_out = teacher_forced_run(model, x, state)
        _, fr_hidden, _ = free_running_run(model, x[:, 0], x.shape[1], state, generator)

        d_loss, accuracy = discriminator_loss(
            self.discriminator, tf_hidden.detach(), fr_hidden.detach()
        )
        train_d = accuracy < self.d_max_accuracy
        if train_d:
            self.optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            average_gradients(list(self.discriminator.parameters()))  # under torchrun
            self.optimizer.step()
        use_g = self.weight > 0 and accuracy > self.g_min_accuracy
        if use_g:
            g_loss = generator_term(self.discriminator, fr_hidden)
            adversarial = self.weight * g_loss
            g_value = float(g_loss.detach())
        else:
            adversarial = torch.zeros((), device=logits.device, dtype=logits.dtype)
            g_value = math.nan
        self._record(accuracy, float(d_loss.detach()), g_value, train_d, use_g)
        return logits, state_out, adversarial

    def _record(
        self, accuracy: float, d_loss: float, g_loss: float, train_d: bool, use_g: bool
    ) -> None:
        w = self._window
        w["n"] = w.get("n", 0.0) + 1
        w["accuracy"] = w.get("accuracy", 0.0) + accuracy
        w["d_loss"] = w.get("d_loss", 0.0) + d_loss
        w["d_trained"] = w.get("d_trained", 0.0) + float(train_d)
        w["g_used"] = w.get("g_used", 0.0) + float(use_g)
        if use_g:
            w["g_loss"] = w.get("g_loss", 0.0) + g_loss

    def window_stats(self) -> dict[str, float]:
        """Means since the last call, for ``metrics.jsonl``: ``pf_d_accuracy`` (the
        discriminator's accuracy before its update), ``pf_d_loss``, ``pf_d_trained`` and
        ``pf_g_used`` (fractions of steps the gates were open) and ``pf_g_loss``
        (:math:`-\\log D(b^{fr})` over the steps it was applied; absent if none)."""
        w, self._window = self._window, {}
        n = w.get("n", 0.0)
        if n == 0:
            return {}
        stats = {
            "pf_d_accuracy": w["accuracy"] / n,
            "pf_d_loss": w["d_loss"] / n,
            "pf_d_trained": w["d_trained"] / n,
            "pf_g_used": w["g_used"] / n,
        }
        if w["g_used"] > 0:
            stats["pf_g_loss"] = w["g_loss"] / w["g_used"]
        return stats

    @classmethod
    def from_config(cls, model: nn.Module, config: TrainConfig) -> ProfessorForcing:
        """Professor forcing for ``model`` with the ``pf_*`` settings of ``config``."""
        return cls(
            behaviour_size(model),
            weight=config.pf_weight,
            lr=config.pf_lr,
            hidden_size=config.pf_hidden,
            mlp_size=config.pf_mlp,
            d_max_accuracy=config.pf_d_max_acc,
            g_min_accuracy=config.pf_g_min_acc,
            device=next(model.parameters()).device,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "discriminator": self.discriminator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
