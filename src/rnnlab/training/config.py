"""The full, resolved configuration of a training run (stored as ``config.json``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from rnnlab._checks import check_device, check_finite, check_positive, check_unit_interval
from rnnlab._config import option
from rnnlab.models.registry import config_from_json, config_to_json
from rnnlab.models.rnn import RNNConfig
from rnnlab.tasks.registry import TaskOptions
from rnnlab.training.numerics import ON_NAN
from rnnlab.training.scheduled_sampling import SamplingSchedule

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
UNBOUNDED_STEPS = 2**62
"""``steps`` of a run bounded by ``max_time`` alone (``--max-time`` without ``--steps``)."""
RESUMABLE_FIELDS = (
    "steps",
    "max_time",
    "patience",
    "device",
    "threads",
    "eval_batch_size",
    "on_nan",
    "nan_skips",
)
"""The :class:`TrainConfig` fields a resumed run may change (how long it goes on, where
and how fast it runs, what a numerical fault does); any other change is refused."""
SCHEDULES = ("constant", "cosine", "linear", "step")
REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        optimizer: ``adam``, ``adamw``, ``rmsprop`` or ``sgd`` (with ``momentum``).
        momentum: SGD's momentum (0: plain SGD, as Sukhbaatar et al. 2015 train MemN2N).
        lr: peak learning rate.
        manifold_lr: peak learning rate of the cells' orthogonal / unitary parameters
            (``Cell.manifold_parameters``); ``None``: the same as ``lr``.
        weight_decay: decoupled for AdamW, L2 for the others.
        schedule: ``constant``, ``cosine`` (to 0 at ``steps``), ``linear`` (to 0) or
            ``step`` (times ``decay_factor`` every ``decay_every`` steps), each after
            ``warmup_steps`` of linear warm-up.
        decay_every, decay_factor: the ``step`` schedule's period (steps) and factor.
        decay_start: ``step`` schedule: steps at the peak rate before the periods count
            (the official MemN2N code's 20 linear-start epochs before its 100 decaying ones).
        warmup_steps: linear warm-up from 0.
        steps: training steps (batches).
        batch_size: sequences per batch.
        loss_reduction: ``mean``: differentiate the task's loss (a mean over the batch);
            ``sum``: that mean times the batch's rows, the loss summed over the batch (the
            gradient and the norm ``clip`` sees grow with the batch size). Logged losses
            stay means.
        clip: clip the global gradient norm at this value (``None``: no clipping; the
            pre-clip norm is logged either way).
        eval_every: evaluate on ``val`` (and checkpoint) every this many steps.
        patience: stop after this many evaluations without improvement (``None``: never).
        max_time: stop training after this many seconds of training (evaluation and data
            generation excluded: the command ends after one more evaluation of ``val``,
            and of ``test`` when it is another text; the best weights' ``val`` figures are
            never measured twice).
        seed: seeds the parameters, the data stream and every RNG.
        device: ``cpu``, ``cuda``, ``cuda:1``, ...
        eval_batch_size: batch size for evaluation.
        scheduled_sampling: for generative models (``kind`` lm, seq2seq), train with scheduled
            sampling (Bengio et al. 2015) under this teacher-probability schedule
            (``linear``, ``exponential``, ``inverse_sigmoid``); ``None``: teacher forcing.
        ss_k, ss_c, ss_min: the schedule's constants (see
            :class:`rnnlab.training.scheduled_sampling.SamplingSchedule`).
        professor_forcing: for generative models, add professor forcing (Lamb et al.
            2016): a discriminator over teacher-forced and free-running hidden-state
            sequences, and a generator term that makes free running look teacher-forced
            (see :mod:`rnnlab.training.professor_forcing`). Excludes scheduled sampling.
        pf_weight: the generator's adversarial term's weight (0: teacher forcing, with the
            discriminator only measured).
        pf_lr: the discriminator's Adam learning rate.
        pf_hidden, pf_mlp: the discriminator's bidirectional-GRU and MLP widths.
        pf_d_max_acc: train the discriminator only while its batch accuracy is below this.
        pf_g_min_acc: apply the adversarial term only when that accuracy is above this.
        beam_size: encoder-decoders: evaluate with beam search of this width (1: greedy
            decoding); with more than 1 the greedy figures are logged too (``greedy_*``).
        length_penalty: encoder-decoders: ``alpha`` of beam search's GNMT length penalty.
        on_nan: what a NaN or Inf in the loss or the gradients does (see
            :mod:`rnnlab.training.numerics`): ``stop`` the run (raising
            :class:`~rnnlab.training.numerics.NonFiniteError`, nothing non-finite saved) or
            ``skip`` the step and halve the learning rate.
        nan_skips: with ``on_nan="skip"``, the most steps skipped before the run stops.
        threads: torch's intra-op CPU threads while training (``None``: one thread on the
            CPU unless ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` chose; see
            :mod:`rnnlab.training.threads`).
        bf16: train under ``torch.autocast`` in bfloat16 (matmuls and fused recurrent kernels
            in bfloat16; weights, optimiser, loss and evaluation in float32): about 1.5x
            faster on CPUs with AVX-512 BF16 or AMX, at bfloat16's 8-bit mantissa.
    """

    optimizer: str = option("adam", flag="optimizer", help="the optimiser", choices=OPTIMIZERS)
    momentum: float = option(0.9, flag="momentum", help="SGD momentum (0: plain SGD)", type=float)
    lr: float = option(1e-3, flag="lr", help="peak learning rate")
    manifold_lr: float | None = option(
        None, flag="manifold-lr", help="learning rate of orthogonal/unitary matrices"
    )
    weight_decay: float = option(0.0, flag="weight-decay", help="weight decay", type=float)
    schedule: str = option(
        "constant", flag="schedule", help="learning-rate schedule", choices=SCHEDULES
    )
    warmup_steps: int = option(0, flag="warmup", help="linear warm-up steps", type=int)
    decay_every: int = option(
        1000, flag="decay-every", help="step schedule: decay the rate every this many steps"
    )
    decay_factor: float = option(
        0.5, flag="decay-factor", help="step schedule: multiply the rate by this", type=float
    )
    decay_start: int = option(
        0,
        flag="decay-start",
        help="step schedule: steps at the peak rate before decaying",
        type=int,
    )
    loss_reduction: str = option(
        "mean",
        flag="loss-reduction",
        help="differentiate the batch's mean loss, or its sum over the rows",
        choices=REDUCTIONS,
    )
    steps: int = option(
        2000,
        flag="steps",
        help="training steps (batches); with --max-time and no --steps, time alone ends the run",
    )
    batch_size: int = option(64, flag="batch-size", help="sequences per batch")
    clip: float | None = option(
        1.0, flag="clip", help="clip the global gradient norm", negative="no-clip"
    )
    eval_every: int = option(250, flag="eval-every", help="evaluate on val every this many steps")
    patience: int | None = option(None, flag="patience", help="early stopping, in evaluations")
    max_time: float | None = option(
        None,
        flag="max-time",
        help="training time budget, seconds; evaluations come on top (one per --eval-every, "
        "one when the budget ends, test when it is not val: charlm --max-time 60 ends in 75 s)",
    )
    seed: int = option(0, flag="seed", help="seeds parameters, data and every RNG", type=int)
    device: str = option("cpu", flag="device", help="cpu, cuda, cuda:1, ...")
    eval_batch_size: int = option(500, flag="eval-batch-size", help="batch size of evaluation")
    scheduled_sampling: str | None = option(
        None,
        flag="scheduled-sampling",
        help="generative models: scheduled sampling with this teacher-probability decay",
        choices=("linear", "exponential", "inverse_sigmoid"),
    )
    ss_k: float = option(500.0, flag="ss-k", help="schedule constant k", type=float)
    ss_c: float = option(1e-4, flag="ss-c", help="linear schedule slope c", type=float)
    ss_min: float = option(0.0, flag="ss-min", help="minimum teacher probability", type=float)
    professor_forcing: bool = option(
        False,
        flag="professor-forcing",
        help="generative models: professor forcing (a discriminator over teacher-forced and "
        "free-running hidden states); excludes --scheduled-sampling",
    )
    pf_weight: float = option(
        1.0, flag="pf-weight", help="weight of the adversarial generator term", type=float
    )
    pf_lr: float = option(1e-3, flag="pf-lr", help="discriminator Adam learning rate")
    pf_hidden: int = option(64, flag="pf-hidden", help="discriminator GRU units per direction")
    pf_mlp: int = option(64, flag="pf-mlp", help="discriminator MLP hidden units")
    pf_d_max_acc: float = option(
        0.99,
        flag="pf-d-max-acc",
        help="train the discriminator only while its accuracy is below this",
        type=float,
    )
    pf_g_min_acc: float = option(
        0.75,
        flag="pf-g-min-acc",
        help="use the adversarial term only when the discriminator's accuracy is above this",
        type=float,
    )
    beam_size: int = option(
        1, flag="beam", help="encoder-decoders: evaluate with beam search of this width"
    )
    length_penalty: float = option(
        0.6, flag="length-penalty", help="beam search's GNMT length penalty alpha", type=float
    )
    bf16: bool = option(
        False, flag="bf16", help="train under bfloat16 autocast (weights and evaluation float32)"
    )
    on_nan: str = option(
        "stop",
        flag="on-nan",
        help="a NaN/Inf loss or gradient: stop the run (exit 1) or skip the step and halve "
        "the learning rate",
        choices=ON_NAN,
    )
    nan_skips: int = option(
        3, flag="nan-skips", help="--on-nan skip: skip at most this many steps, then stop"
    )
    threads: int | None = option(
        None,
        flag="threads",
        help="torch's intra-op threads while training (default: 1 on the CPU, unless "
        "OMP_NUM_THREADS or torch.set_num_threads says otherwise)",
    )

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}"
            )
        if self.on_nan not in ON_NAN:
            raise ValueError(f"unknown on_nan {self.on_nan!r}; expected one of {', '.join(ON_NAN)}")
        check_positive("nan_skips", self.nan_skips)
        if self.threads is not None:
            check_positive("threads", self.threads)
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not (isinstance(self.decay_factor, (int, float)) and 0 < self.decay_factor <= 1):
            raise ValueError(f"decay_factor must be in (0, 1], got {self.decay_factor!r}")
        if self.loss_reduction not in REDUCTIONS:
            raise ValueError(
                f"unknown loss_reduction {self.loss_reduction!r}; expected mean or sum"
            )
        for name in (
            "steps",
            "batch_size",
            "eval_every",
            "eval_batch_size",
            "beam_size",
            "decay_every",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        check_finite("lr", self.lr)
        if self.manifold_lr is not None:
            check_finite("manifold_lr", self.manifold_lr)
        if self.clip is not None:
            check_finite("clip", self.clip)
        check_finite("weight_decay", self.weight_decay, strict=False)
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise ValueError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        if isinstance(self.decay_start, bool) or not isinstance(self.decay_start, int):
            raise ValueError(f"decay_start must be an integer >= 0, got {self.decay_start!r}")
        if self.decay_start < 0:
            raise ValueError(f"decay_start must be an integer >= 0, got {self.decay_start!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_device(self.device, available=False)  # checked again when training starts
        check_finite("length_penalty", self.length_penalty, strict=False)
        if self.max_time is not None:
            check_finite("max_time", self.max_time)
        if self.scheduled_sampling is not None:
            self.sampling_schedule()  # validates the schedule's name and constants
        if self.professor_forcing and self.scheduled_sampling is not None:
            raise ValueError(
                "professor forcing and scheduled sampling are mutually exclusive; pick one of "
                "--professor-forcing and --scheduled-sampling"
            )
        for name in ("pf_hidden", "pf_mlp"):
            check_positive(name, getattr(self, name))
        if not (math.isfinite(self.pf_weight) and self.pf_weight >= 0):
            raise ValueError(f"pf_weight must be a number >= 0, got {self.pf_weight!r}")
        check_finite("pf_lr", self.pf_lr)
        for name in ("pf_d_max_acc", "pf_g_min_acc"):
            check_unit_interval(name, getattr(self, name), closed=True)
        if self.patience is not None and self.patience <= 0:
            raise ValueError(f"patience must be a positive integer, got {self.patience!r}")

    def sampling_schedule(self) -> SamplingSchedule | None:
        if self.scheduled_sampling is None:
            return None
        return SamplingSchedule(self.scheduled_sampling, self.ss_k, self.ss_c, self.ss_min)

    def generative_mode(self) -> str:
        """How a generative model is trained, in words: ``teacher forcing``,
        ``scheduled sampling (linear, k=1, c=0.001)`` or ``professor forcing (w=1)``
        (figure labels)."""
        if self.scheduled_sampling is not None:
            constants = f"k={self.ss_k:g}"
            if self.scheduled_sampling == "linear":
                constants += f", c={self.ss_c:g}"
            if self.ss_min > 0:
                constants += f", min={self.ss_min:g}"
            return f"scheduled sampling ({self.scheduled_sampling}, {constants})"
        if self.professor_forcing:
            return f"professor forcing (w={self.pf_weight:g})"
        return "teacher forcing"


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run: the task, the model and the optimisation.

    ``model`` is the config of a registered model family (:class:`RNNConfig` by
    default); ``config.json`` stores it as ``{"family": name, **fields}``.
    """

    task: str
    task_options: TaskOptions = field(default_factory=TaskOptions)
    model: Any = field(default_factory=RNNConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "task_options": dataclasses.asdict(self.task_options),
            "model": config_to_json(self.model),
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """The config of ``to_dict`` (also a ``config.json`` written before model families:
        its model is migrated to the ``rnn`` family)."""
        try:
            return cls(
                task=data["task"],
                task_options=TaskOptions(**data.get("task_options", {})),
                model=config_from_json(data.get("model", {})),
                train=TrainConfig(**data.get("train", {})),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"invalid run config: {exc}") from None


def check_resume_config(saved: RunConfig, config: RunConfig) -> None:
    """A one-line ``ValueError`` when ``config`` differs from the ``saved`` run's in
    anything but :data:`RESUMABLE_FIELDS` (resuming under another learning rate, model or
    task would not continue the same run)."""
    a, b = saved.to_dict(), config.to_dict()
    for name in RESUMABLE_FIELDS:
        a["train"].pop(name)
        b["train"].pop(name)
    for part in ("task", "task_options", "model", "train"):
        x, y = a[part], b[part]
        if x == y:
            continue
        if not isinstance(x, dict) or not isinstance(y, dict):
            raise ValueError(f"cannot resume a run of {part} {x!r} as {y!r}")
        for key in sorted(set(x) | set(y)):
            if x.get(key) != y.get(key):
                raise ValueError(
                    f"{part}.{key}={y.get(key)!r} conflicts with the run being resumed "
                    f"({key}={x.get(key)!r}); a resume may change only "
                    f"{', '.join(RESUMABLE_FIELDS)}"
                )
