r"""vec->seq on MNIST-1D: generate the 40-step signal of a given digit class.

Each MNIST-1D signal (:mod:`rnnlab.tasks.mnist1d`) is quantised into
:data:`MNIST1D_GEN_LEVELS` = 32 uniform levels over the range of the dataset's 4000
training signals, :math:`[-5.48, 4.53]` (a level is 0.31 wide; see
:class:`rnnlab.tasks.quantise.UniformQuantiser`); test values outside the range go to the
end levels. The condition is the class one-hot :math:`c \in \{0, 1\}^{10}`. A generator
:math:`Q(x_{1..40} \mid c) = \prod_t Q(x_t \mid x_{<t}, c)` is trained by teacher forcing.

Metrics:

* ``bpc``: bits per token, :math:`-\frac{1}{40}\sum_t \log_2 Q(x_t \mid x_{<t}, c)` on the
  split (main metric), and ``loss`` in nats.
* ``fidelity``: one signal sampled (temperature 1) for every row of the split, with the
  row's class as condition, dequantised and classified by a fixed classifier trained on
  the real training signals (:class:`rnnlab.tasks.rocket.RocketClassifier`, about 95%
  accurate on the real quantised ``val`` and ``test`` signals): the fraction assigned to
  the requested class. The sampling is seeded per split, so it is deterministic.

Baseline: the bits per token of the best model that knows the class but not the history,
the per-class, per-position level histogram of the training split,
:math:`Q_0(v \mid c, t) = (n_{c t v} + \frac12) / (n_{c t} + \frac{L}{2})`
(Krichevsky-Trofimov smoothing), scored on the ``test`` split. A generator below it uses
the signal's history; the note also gives the unconditional per-position histogram's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.tasks.base import Batch, DatasetTask, GenerateFn, task_generator
from rnnlab.tasks.mnist1d import MNIST1D_CLASSES, MNIST1D_LENGTH, VAL_FRACTION, load_mnist1d
from rnnlab.tasks.quantise import UniformQuantiser
from rnnlab.tasks.rocket import RocketClassifier
from rnnlab.tasks.splits import VAL_STREAM, describe_sizes, hold_out

MNIST1D_GEN_LEVELS = 32
_FIDELITY_STREAM = {"val": 21, "test": 22}  # task_generator streams of the fidelity samples
_CLASSIFIERS: dict[int, RocketClassifier] = {}  # task seed -> fitted classifier, per process


def histogram_bits(
    train_tokens: Tensor, train_groups: Tensor, tokens: Tensor, groups: Tensor, levels: int
) -> float:
    r"""Bits per token of the per-group, per-position histogram model
    :math:`Q_0(v \mid g, t) = (n_{g t v} + \frac12) / (n_{g t} + \frac{L}{2})` fitted on
    ``train_tokens (N, T)`` with groups ``train_groups (N,)``, scored on ``tokens (M, T)``
    with ``groups (M,)``."""
    G = int(max(int(train_groups.max()), int(groups.max()))) + 1
    T = train_tokens.shape[1]
    position = torch.arange(T).expand_as(train_tokens)  # (N, T)
    cell = (train_groups.view(-1, 1) * T + position) * levels + train_tokens  # (N, T)
    counts = torch.bincount(cell.flatten(), minlength=G * T * levels).view(G, T, levels)
    q = (counts.double() + 0.5) / (counts.sum(-1, keepdim=True).double() + levels / 2)
    picked = q[groups.view(-1, 1), torch.arange(T).view(1, -1), tokens]  # (M, T)
    return float(-picked.log2().mean())


class MNIST1DGenTask(DatasetTask):
    """Generate the MNIST-1D signal of a digit class (vec->seq), 32 quantisation levels.

    ``x (B, 10)`` class one-hots, ``y (B, 40)`` level tokens. Splits as in
    :class:`rnnlab.tasks.mnist1d.MNIST1DTask` (``val``: 400 of the 4000 training signals
    held out with ``seed``; ``test``: the standard 1000). See the module docstring for the
    metrics and the baseline.
    """

    name: ClassVar[str] = "mnist1d-gen"
    description: ClassVar[str] = (
        "vec->seq: generate the 40-step MNIST-1D signal of a digit class (32 levels); "
        "bits per token and class fidelity of samples"
    )
    # about 2 minutes of CPU on 2 cores; reached test bpc 2.43 and fidelity 0.81
    defaults: ClassVar[dict[str, Any]] = dict(
        model="lstm",
        hidden_size=128,
        num_layers=2,
        dropout=0.2,
        batch_size=64,
        steps=2000,
        lr=3e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=500,
        schedule="cosine",
        feed_condition=True,
    )

    def __init__(self, cache_dir: str | None = None, seed: int = 0) -> None:
        self.cache_dir = cache_dir
        self.seed = seed
        arrays = load_mnist1d(cache_dir)
        x_train = torch.tensor(arrays["x"])
        self.quantiser = UniformQuantiser(
            float(x_train.min()), float(x_train.max()), MNIST1D_GEN_LEVELS
        )
        full = self._batch(x_train, torch.tensor(arrays["y"]))
        train, val = hold_out(full, round(len(full) * VAL_FRACTION), seed, VAL_STREAM)
        test = self._batch(torch.tensor(arrays["x_test"]), torch.tensor(arrays["y_test"]))
        self._set_data(train, val, test)
        self.kind = "vec2seq"
        self.input_size = MNIST1D_CLASSES
        self.output_size = MNIST1D_GEN_LEVELS
        self.main_metric = "bpc"
        self.higher_is_better = False
        L = MNIST1D_GEN_LEVELS
        labels = {name: b.x.argmax(-1) for name, b in self._data.items()}
        self.baseline = histogram_bits(train.y, labels["train"], test.y, labels["test"], L)
        zeros = {name: torch.zeros_like(v) for name, v in labels.items()}
        self.unconditional_bits = histogram_bits(train.y, zeros["train"], test.y, zeros["test"], L)
        self.metadata: dict[str, Any] = {
            "generation": {
                "condition": "class",
                "classes": MNIST1D_CLASSES,
                "length": MNIST1D_LENGTH,
                "quantiser": self.quantiser.to_json(),
            }
        }
        self._sizes = describe_sizes(train, val, test)

    def _batch(self, x: Tensor, y: Tensor) -> Batch:
        condition = F.one_hot(y.long(), MNIST1D_CLASSES).float()  # (N, 10)
        return Batch(condition, self.quantiser.quantise(x))  # x (N, 10), y (N, 40)

    def options(self) -> dict[str, Any]:
        return {} if self.cache_dir is None else {"cache_dir": self.cache_dir}

    # -- the fidelity classifier ----------------------------------------------------------
    def classifier(self) -> RocketClassifier:
        """The fixed classifier of dequantised signals, fitted on the training split once
        per process and seed (a few seconds)."""
        if self.seed not in _CLASSIFIERS:
            train = self.split("train")
            values = self.quantiser.dequantise(train.y)
            labels = train.x.argmax(-1)
            _CLASSIFIERS[self.seed] = RocketClassifier().fit(values, labels, MNIST1D_CLASSES)
        return _CLASSIFIERS[self.seed]

    def fidelity(self, values: Tensor, classes: Tensor) -> float:
        """Fraction of signals ``values (N, 40)`` the classifier assigns to ``classes (N,)``."""
        return float((self.classifier().predict(values) == classes).double().mean())

    def real_fidelity(self, split: str) -> float:
        """The classifier's accuracy on the split's real (quantised) signals: the fidelity
        of a perfect generator, up to sampling noise."""
        data = self.split(split)
        return self.fidelity(self.quantiser.dequantise(data.y), data.x.argmax(-1))

    def model_metrics(self, generate: GenerateFn, split: str, device: str) -> dict[str, float]:
        data = self.split(split)
        seed = task_generator(self.seed, _FIDELITY_STREAM.get(split, 23)).initial_seed()
        generator = torch.Generator(device=device).manual_seed(seed)
        tokens = [
            generate(chunk.to(device), MNIST1D_LENGTH, generator=generator).cpu()
            for chunk in data.x.split(1000)
        ]
        values = self.quantiser.dequantise(torch.cat(tokens))
        return {"fidelity": self.fidelity(values, data.x.argmax(-1))}

    @property
    def note(self) -> str:
        real = (
            f"; the fidelity classifier is {self.real_fidelity('test'):.3f} accurate on the "
            "real quantised test signals"
            if self.seed in _CLASSIFIERS
            else ""
        )
        return (
            f"MNIST-1D ({self._sizes}) quantised to {MNIST1D_GEN_LEVELS} levels over "
            f"[{self.quantiser.low:.3f}, {self.quantiser.high:.3f}]; baseline = per-class "
            f"per-position histogram ({self.baseline:.3f} bits/token; unconditional "
            f"{self.unconditional_bits:.3f}){real}"
        )


def class_condition(classes: Tensor, num_classes: int = MNIST1D_CLASSES) -> Tensor:
    """``(N,)`` class ids -> ``(N, num_classes)`` float one-hots; a one-line error for an
    id out of range."""
    classes = torch.as_tensor(classes).long()
    if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= num_classes):
        bad = classes[(classes < 0) | (classes >= num_classes)][0]
        raise ValueError(f"class {int(bad)} is out of range; expected 0..{num_classes - 1}")
    return F.one_hot(classes, num_classes).float()
