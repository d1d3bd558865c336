"""Where a memory network looks: each hop's attention over a story's sentences (the view of
Table 1 of Sukhbaatar et al. 2015), and how often the most attended sentence of a hop is one
of the supporting facts the bAbI files mark.

Works with any model that has ``hop_attention(batch) -> K tensors (B, S)`` (the ``memn2n``
family) on a task whose batches carry ``story``, ``lengths`` and ``support`` (``babi``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._io import write_json
from rnnlab.diagnostics.plots import _pyplot, _save
from rnnlab.tasks.base import Task, batch_rows


@dataclass(frozen=True)
class HopAttention:
    """One question: its story, the supporting facts, and each hop's weights.

    Attributes:
        index: the question's row in its split.
        sentences: the story's statements in memory, oldest first.
        support: indices of the supporting statements among ``sentences``.
        question, answer, predicted: the question, the true and the predicted answer.
        weights: ``hops x sentences`` attention weights.
    """

    index: int
    sentences: list[str]
    support: list[int]
    question: str
    answer: str
    predicted: str
    weights: list[list[float]]


def _hops(model: nn.Module) -> Any:
    hops = getattr(model, "hop_attention", None)
    if not callable(hops):
        raise ValueError(
            f"{type(model).__name__} has no hop_attention(batch): not a memory network "
            "(train one with --model memn2n)"
        )
    return hops


def hop_attention(model: nn.Module, task: Task, split: str, index: int) -> HopAttention:
    """Each hop's attention of ``model`` over question ``index`` of ``split``."""
    data: Any = task.split(split)  # a BabiBatch (story, lengths, support)
    n = int(data.y.shape[0])
    if not 0 <= index < n:
        raise ValueError(f"story {index} is not in {split}: expected 0..{n - 1}")
    row = batch_rows(data, slice(index, index + 1))
    words: list[str] = list(getattr(task, "words", []))
    answers: list[str] = list(getattr(task, "answers", []))

    def text(ids: Tensor) -> str:
        return " ".join(words[int(i)] if words else str(int(i)) for i in ids if int(i) != 0)

    was_training = model.training
    model.eval()
    with torch.no_grad():
        weights = [w[0] for w in _hops(model)(row)]
        predicted = int(model(row)[0].argmax(-1)[0])
    model.train(was_training)
    count = int(row.lengths[0])
    name = lambda a: answers[a] if answers else str(a)  # noqa: E731
    return HopAttention(
        index=index,
        sentences=[text(row.story[0, i]) for i in range(count)],
        support=[int(i) for i in row.support[0].nonzero().flatten()],
        question=text(row.query[0]),
        answer=name(int(row.y[0])),
        predicted=name(predicted),
        weights=[[float(v) for v in w[:count]] for w in weights],
    )


def supporting_fact_hits(
    model: nn.Module, task: Task, split: str = "test", batch_size: int = 500
) -> dict[str, Any]:
    """The fraction of questions (those with a supporting fact in memory) whose most
    attended sentence is a supporting fact, per hop (``hop_1`` ...), at every hop
    (``all_hops``) and at some hop (``any_hop``)."""
    data: Any = task.split(split)  # a BabiBatch (story, lengths, support)
    n = int(data.y.shape[0])
    hits: list[Tensor] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, n, batch_size):
            chunk = batch_rows(data, slice(start, start + batch_size))
            weights = torch.stack(_hops(model)(chunk), 1)  # (B, K, S)
            top = weights.argmax(-1)  # (B, K)
            hits.append(chunk.support.gather(1, top))  # (B, K) bool
    model.train(was_training)
    hit = torch.cat(hits)
    counted = data.support.any(1)
    hit = hit[counted].float()
    result: dict[str, Any] = {"split": split, "questions": int(counted.sum())}
    for k in range(hit.shape[1]):
        result[f"hop_{k + 1}"] = float(hit[:, k].mean())
    result["all_hops"] = float(hit.min(1).values.mean())
    result["any_hop"] = float(hit.max(1).values.mean())
    return result


def plot_hop_attention(view: HopAttention, path: Path) -> None:
    """A heat map: one row per sentence (supporting facts starred), one column per hop."""
    plt = _pyplot()
    hops = len(view.weights)
    rows = len(view.sentences)
    fig, ax = plt.subplots(figsize=(4 + 1.1 * hops, 1.2 + 0.32 * rows))
    grid = torch.tensor(view.weights).T.numpy() if rows else [[0.0] * hops]
    ax.imshow(grid, cmap="Blues", aspect="auto", vmin=0.0)
    ax.set_xticks(range(hops), [f"hop {k + 1}" for k in range(hops)])
    labels = [("* " if i in view.support else "") + s for i, s in enumerate(view.sentences)]
    ax.set_yticks(range(rows), labels, fontsize=8)
    for i in range(rows):
        for k in range(hops):
            ax.text(k, i, f"{view.weights[k][i]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"{view.question}? answer {view.answer}, predicted {view.predicted}", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def diagnose_memory_hops(
    run_dir: str, story: int, out: Path, split: str = "test"
) -> dict[str, Any]:
    """``memory_hops.json`` and ``memory_hops.png`` in ``out`` for question ``story`` of a
    trained memory network's run, with :func:`supporting_fact_hits` over ``split``."""
    from rnnlab.training.run import load

    run = load(run_dir)
    task = run.task()
    view = hop_attention(run.model, task, split, story)
    result = {**asdict(view), "supporting_fact_hits": supporting_fact_hits(run.model, task, split)}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "memory_hops.json", result)
    plot_hop_attention(view, out / "memory_hops.png")
    return result
