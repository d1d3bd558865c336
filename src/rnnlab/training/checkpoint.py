"""Checkpoints written atomically (:func:`rnnlab._io.atomic_write`): weights in safetensors,
trainer state beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from rnnlab._io import CheckpointError, atomic_write


def save_tensors(tensors: dict[str, Tensor], path: Path) -> None:
    """Write a dict of tensors (a state dict) as a safetensors file, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))


def save_weights(model: nn.Module, path: Path) -> None:
    save_tensors(model.state_dict(), path)


def load_tensors(path: Path) -> dict[str, Tensor]:
    """The tensors of a safetensors file, with one-line errors for a missing or bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing checkpoint {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"corrupt checkpoint {path}: expected a safetensors file ({exc})"
        ) from None


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``model``, with one-line errors for bad files."""
    path = Path(path)
    tensors = load_tensors(path)
    device = next(model.parameters()).device
    try:
        model.load_state_dict({k: v.to(device) for k, v in tensors.items()})
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint {path} does not match the model: {first}") from None


def save_trainer_state(state: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_trainer_state(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing trainer state {path}: nothing to resume")
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"corrupt trainer state {path}: {type(exc).__name__}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"corrupt trainer state {path}: not a dict")
    return state
