"""The attention heads of a Transformer language model over one text: every layer's every
head, ``softmax(q k^T / sqrt(d))`` from the exact path of :mod:`rnnlab.attention`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rnnlab._io import write_json
from rnnlab.tasks.vocab import CharVocab
from rnnlab.training.run import TrainedRun, load


@dataclass
class HeadMaps:
    """``weights[layer][head]`` is a ``(T, T)`` map: row ``t`` is where position ``t``
    (reading ``tokens[t]``) looks, over positions ``<= t``."""

    text: str
    tokens: list[str]
    weights: list[list[list[list[float]]]]  # (layers, heads, T, T)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def has_heads(model: Any) -> bool:
    """Whether ``model`` can show its attention heads (a Transformer language model)."""
    return callable(getattr(model, "attention_weights", None))


def head_maps(run: TrainedRun, text: str) -> HeadMaps:
    """Every head of every layer of a Transformer LM run reading ``text``."""
    if not text:
        raise ValueError('diagnose attention needs a non-empty --text "..."')
    vocab = CharVocab.from_json(run.task_info["vocab"])
    ids = vocab.encode(text).unsqueeze(0)  # (1, T)
    model: Any = run.model
    if not has_heads(model):
        raise ValueError(
            f"run {run.run_dir} has no attention heads to show ({type(model).__name__})"
        )
    device = next(model.parameters()).device
    with torch.no_grad():
        layers = model.attention_weights(ids.to(device))  # per layer (1, h, T, T)
    weights = [[head.tolist() for head in w[0].cpu()] for w in layers]
    return HeadMaps(text, list(text), weights)


def diagnose_heads(run_dir: str, text: str, out_dir: str | Path) -> HeadMaps:
    """Write ``heads.json`` and ``heads.png`` (a grid, layers down, heads across)."""
    from rnnlab.diagnostics.plots import plot_heads

    run = load(run_dir)
    result = head_maps(run, text)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "heads.json", {"run": str(run_dir), **result.to_dict()})
    plot_heads(result, out / "heads.png", f"{Path(run_dir).name}: {text}")
    return result
