"""Sampling from a trained vec->seq run (``rnnlab sample RUN --condition ...``).

A vec->seq task records what its condition is in its run folder
(``config.json``: ``task_info.metadata.generation``)::

    {"condition": "class", "classes": 10, "length": 40,
     "quantiser": {"low": -5.48, "high": 4.53, "levels": 32}}

so a run can be sampled without its data: ``--condition 3`` (or ``0,3,7``, or ``all``)
becomes class one-hots, and the generated tokens are printed as the values of their levels
(:class:`rnnlab.tasks.quantise.UniformQuantiser`), or as token ids when there is no
quantiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnlab._io import atomic_write
from rnnlab.decoding.conditional import ConditionalModel, generate
from rnnlab.tasks.mnist1d_gen import class_condition
from rnnlab.tasks.quantise import UniformQuantiser
from rnnlab.training.run import TrainedRun


@dataclass
class Samples:
    """Sequences generated from a vec->seq run.

    Attributes:
        labels: the condition of each row as the user gave it (``"3"``), ``(N,)``.
        classes: class ids of the rows (class-conditioned runs), else ``None``.
        tokens: ``(N, L)`` long generated tokens.
        values: ``(N, L)`` float dequantised values, or ``None`` without a quantiser.
    """

    labels: list[str]
    classes: Tensor | None
    tokens: Tensor
    values: Tensor | None

    def lines(self) -> list[str]:
        """One line per row: the values (3 decimals) or token ids, space-separated."""
        if self.values is not None:
            return [" ".join(f"{v:.3f}" for v in row.tolist()) for row in self.values]
        return [" ".join(str(t) for t in row.tolist()) for row in self.tokens]


def generation_spec(run: TrainedRun) -> dict[str, Any]:
    """What a vec->seq run recorded about its condition and outputs; one-line error for
    other runs."""
    spec = run.task_info.get("metadata", {}).get("generation")
    if not isinstance(spec, dict):
        raise ValueError(
            f"run {run.run_dir} is not a vec->seq generator (task kind {run.spec.kind!r})"
        )
    return spec


def parse_condition(text: str, spec: dict[str, Any]) -> tuple[list[str], Tensor, Tensor | None]:
    """``--condition`` text -> ``(labels, conditions (N, C), classes (N,) or None)``.

    Class conditions: a class id, a comma-separated list of ids, or ``all``. Vector
    conditions: one vector of ``size`` comma-separated numbers, or a string of ``size``
    binary digits (``10110010``).
    """
    if spec.get("condition") == "class":
        num = int(spec["classes"])
        if text.strip() == "all":
            ids = list(range(num))
        else:
            try:
                ids = [int(part) for part in text.split(",")]
            except ValueError:
                raise ValueError(
                    f"--condition expects class ids 0..{num - 1} (e.g. 3, 0,3,7 or all), got "
                    f"{text!r}"
                ) from None
        classes = torch.tensor(ids, dtype=torch.long)
        return [str(i) for i in ids], class_condition(classes, num), classes
    size = int(spec["size"])
    parts = list(text) if "," not in text and set(text) <= {"0", "1"} else text.split(",")
    try:
        vector = [float(p) for p in parts]
    except ValueError:
        vector = []
    if len(vector) != size:
        raise ValueError(
            f"--condition expects a vector of {size} numbers (comma-separated, or {size} "
            f"binary digits), got {text!r}"
        )
    return [text], torch.tensor([vector]), None


def sample_run(
    run: TrainedRun,
    condition: str,
    *,
    num: int = 1,
    length: int | None = None,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> Samples:
    """``num`` sequences of ``length`` (default: the task's) per condition in ``condition``,
    sampled in one batch with a generator seeded by ``seed`` (deterministic)."""
    spec = generation_spec(run)
    model = run.model
    if not isinstance(model, ConditionalModel):
        raise ValueError(f"run {run.run_dir} holds no conditional generator")
    labels, conditions, classes = parse_condition(condition, spec)
    conditions = conditions.repeat_interleave(num, 0)  # (N * num, C), a condition's rows together
    labels = [label for label in labels for _ in range(num)]
    classes = None if classes is None else classes.repeat_interleave(num)
    generator = torch.Generator(device=device).manual_seed(seed)
    tokens = generate(
        model,
        conditions.to(device),
        int(length or spec["length"]),
        greedy_decoding=greedy,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=generator,
    ).cpu()
    quantiser = spec.get("quantiser")
    values = None if quantiser is None else UniformQuantiser.from_json(quantiser).dequantise(tokens)
    return Samples(labels, classes, tokens, values)


def plot_samples(samples: Samples, real: dict[int, Tensor], path: Path, title: str) -> None:
    """One panel per class: the generated signals (colour) over real ones (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if samples.values is None or samples.classes is None:
        raise ValueError("--out plots class-conditioned signals (a run with a quantiser)")
    shown = list(dict.fromkeys(samples.classes.tolist()))  # requested classes, in order
    cols = min(5, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    for ax, c in zip(axes.flat, shown, strict=False):
        for signal in real.get(c, torch.empty(0, 0)):
            ax.plot(signal.tolist(), color="0.7", lw=0.8)
        for signal in samples.values[samples.classes == c]:
            ax.plot(signal.tolist(), lw=1.2)
        ax.set_title(f"class {c}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def real_signals(run: TrainedRun, classes: list[int], per_class: int) -> dict[int, Tensor]:
    """Up to ``per_class`` real (dequantised) ``test`` signals of each class, for plots."""
    task = run.task()
    data = task.split("test")
    quantiser = getattr(task, "quantiser", None)
    if quantiser is None:
        return {}
    labels = data.x.argmax(-1)
    return {c: quantiser.dequantise(data.targets[labels == c][:per_class]) for c in classes}
