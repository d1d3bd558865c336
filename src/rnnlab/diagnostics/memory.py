"""Where a neural Turing machine reads and writes: its heads' weightings over the memory
slots at every step of one sequence (Graves et al. 2014, figures 4 and 6: for copy, a
diagonal of writes along the input and then the same diagonal read back)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._io import write_json
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stacked import Stacked
from rnnlab.memory.ntm import NTMCell, NTMState
from rnnlab.tasks.base import batch_rows, batch_to
from rnnlab.training.run import TrainedRun, load


@dataclass
class MemoryTrace:
    """One sequence through an NTM run: what it read, wrote, was asked and answered.

    ``read_weights[h][t]`` / ``write_weights[h][t]`` are head ``h``'s weighting over the
    ``N`` slots after step ``t``; ``read_focus`` / ``write_focus`` the slot each head weighs
    most at each step, and ``*_sharpness`` that slot's weight (1: one slot only).
    """

    label: str
    task: str
    T: int  # the task's length option the sequence was drawn at
    row: int  # the row of the split
    steps: int
    inputs: list[list[float]]  # (steps, D)
    targets: list[list[float]]  # (steps, K)
    outputs: list[list[float]]  # (steps, K): sigmoid of the logits for bit tasks
    scored: list[bool]  # (steps,): the steps the task scores, where known
    read_weights: list[list[list[float]]]  # (R, steps, N)
    write_weights: list[list[list[float]]]  # (W, steps, N)
    read_focus: list[list[int]]  # (R, steps)
    write_focus: list[list[int]]  # (W, steps)
    read_sharpness: list[list[float]]
    write_sharpness: list[list[float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def first_ntm_layer(model: nn.Module) -> Recurrent:
    """The model's input layer when it unrolls an :class:`NTMCell` (``model.layers``, or the
    bottom of a :class:`Stacked`); a one-line error otherwise."""
    layers = getattr(model, "layers", None)
    if isinstance(layers, Stacked):
        layers = layers.layers[0]
    if isinstance(layers, Recurrent) and isinstance(layers.cell, NTMCell):
        return layers
    raise ValueError(
        f"diagnose memory needs a model whose input layer is an NTM (--model ntm), got "
        f"{type(model).__name__} over {type(layers).__name__}"
    )


def _weights(states: list[NTMState], field: str) -> Tensor:
    """``(K, steps, N)`` weightings of one row from the per-step states."""
    return torch.stack([getattr(s, field)[0] for s in states], dim=1)


def memory_trace(
    run: TrainedRun, T: int | None = None, row: int = 0, split: str = "test"
) -> MemoryTrace:
    """Row ``row`` of the run's task ``split`` (rebuilt at length ``T`` if given), through
    the model: inputs, targets, outputs and every head's weightings per step."""
    layer = first_ntm_layer(run.model)
    task = run.task(T=T)
    data = task.split(split)
    if not 0 <= row < len(data.x):
        raise ValueError(f"row must lie in [0, {len(data.x)}), got {row}")
    one = batch_rows(data, slice(row, row + 1))
    lengths = getattr(one, "lengths", None)
    steps = int(lengths[0]) if lengths is not None else int(one.x.shape[1])
    device = next(run.model.parameters()).device
    with torch.no_grad():
        out, _ = run.model(batch_to(one, device))
        _, _, states = layer.trajectory(one.x.to(device), None, lengths)
    states = states[:steps]
    logits = out[0, :steps].cpu()
    outputs = torch.sigmoid(logits) if run.spec.prediction == "bits" else logits
    mask = getattr(one, "mask", None)
    scored = [bool(v) for v in mask[0, :steps]] if mask is not None else [True] * steps
    reads = _weights(states, "read_weights").cpu()
    writes = _weights(states, "write_weights").cpu()
    targets = one.y[0, :steps] if one.y is not None and one.y.dim() == 3 else torch.zeros(steps, 0)
    return MemoryTrace(
        label=str(run.run_dir),
        task=run.config.task,
        T=int(T if T is not None else getattr(task, "T", steps)),
        row=row,
        steps=steps,
        inputs=one.x[0, :steps].tolist(),
        targets=targets.tolist(),
        outputs=outputs.tolist(),
        scored=scored,
        read_weights=reads.tolist(),
        write_weights=writes.tolist(),
        read_focus=reads.argmax(-1).tolist(),
        write_focus=writes.argmax(-1).tolist(),
        read_sharpness=reads.max(-1).values.tolist(),
        write_sharpness=writes.max(-1).values.tolist(),
    )


def diagnose_memory(
    run_dir: str | Path, out: Path, T: int | None = None, row: int = 0, split: str = "test"
) -> MemoryTrace:
    """:func:`memory_trace` of a run folder, written to ``out/memory.json`` and drawn in
    ``out/memory.png``."""
    from rnnlab.diagnostics.plots import plot_memory

    trace = memory_trace(load(run_dir), T=T, row=row, split=split)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "memory.json", trace.to_dict())
    plot_memory(trace, out / "memory.png")
    return trace
