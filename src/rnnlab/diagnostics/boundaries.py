"""Where a hierarchical multiscale RNN ends its segments, and how well that matches words.

An :class:`~rnnlab.cells.HMRNNCell` decides after reading character :math:`x_t` whether
level :math:`l` ends a segment, :math:`z^l_t \\in \\{0, 1\\}` (level 1 the fastest; the top
level has none). Chung et al. (2016) found that a character language model learns to put
the first level's boundaries at word ends. :func:`hmrnn_boundaries` reads them off a
language model over a text (:func:`boundary_matrix` off one :class:`~rnnlab.layers.Recurrent`
layer over a batch, for plotting), and :func:`boundary_agreement` scores them against reference
positions, such as the characters that separate words (:func:`word_boundaries`):

.. math::
    \\text{precision} = \\frac{\\text{hits}}{|\\{t : z_t = 1\\}|}, \\quad
    \\text{recall} = \\frac{\\text{hits}}{|\\{t : r_t = 1\\}|}, \\quad
    F_1 = \\frac{2 \\, \\text{precision} \\cdot \\text{recall}}{\\text{precision} + \\text{recall}}

where a hit pairs a predicted boundary with a reference one at most ``tolerance``
positions away, each used at most once (a maximum one-to-one matching).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from rnnlab.cells.base import State
from rnnlab.layers.base import SequenceLayer
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.trajectory import layer_trajectories


@runtime_checkable
class SegmentingCell(Protocol):
    """A cell that decides where segments end (:class:`~rnnlab.cells.HMRNNCell`):
    ``boundaries(states)`` turns its ``T`` per-step states (batch ``B``) into the 0/1
    decisions ``(B, T, K)``, one column per level with a boundary detector, bottom first."""

    def boundaries(self, states: Sequence[State]) -> Tensor: ...


def is_word_boundary(char: str) -> bool:
    """True for whitespace and Unicode punctuation (categories ``P*``: ``.,;:!?'"-()``...)."""
    return char.isspace() or unicodedata.category(char).startswith("P")


def word_boundaries(chars: Sequence[str]) -> Tensor:
    """``(N,)`` bool: which of the characters separate words (:func:`is_word_boundary`)."""
    return torch.tensor([is_word_boundary(c) for c in chars], dtype=torch.bool)


@dataclass(frozen=True)
class BoundaryAgreement:
    """Precision, recall and F1 of predicted boundary positions against reference ones.

    ``hits`` predicted boundaries matched one-to-one to reference boundaries at most
    ``tolerance`` positions away, out of ``predicted`` and ``reference`` boundaries among
    ``positions`` scored. A predictor that fires at random at rate ``predicted /
    positions`` gets a precision of about ``reference / positions`` (with tolerance 0).
    """

    precision: float
    recall: float
    f1: float
    hits: int
    predicted: int
    reference: int
    positions: int
    tolerance: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _matches(predicted: list[int], reference: list[int], tolerance: int) -> int:
    """Size of a maximum matching of sorted positions at most ``tolerance`` apart: the greedy
    two-pointer walk is optimal on a line (a position that cannot reach the other side's
    current one cannot reach any later one either)."""
    i = j = hits = 0
    while i < len(predicted) and j < len(reference):
        p, r = predicted[i], reference[j]
        if abs(p - r) <= tolerance:
            hits, i, j = hits + 1, i + 1, j + 1
        elif p < r:
            i += 1
        else:
            j += 1
    return hits


def boundary_agreement(
    predicted: Tensor, reference: Tensor, tolerance: int = 0
) -> BoundaryAgreement:
    """Score boundary decisions ``predicted`` against ``reference``, both ``(..., N)`` (bool
    or 0/1) over the same positions; rows of a 2-D input are separate texts (no match
    crosses rows). See the module docstring for the measures; an empty side gives 0."""
    if predicted.shape != reference.shape or predicted.dim() == 0:
        raise ValueError(
            f"predicted and reference boundaries must have one shape (..., N), got "
            f"{tuple(predicted.shape)} and {tuple(reference.shape)}"
        )
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative integer, got {tolerance!r}")
    pred = predicted.reshape(-1, predicted.shape[-1]).bool().cpu()
    ref = reference.reshape(-1, reference.shape[-1]).bool().cpu()
    if tolerance == 0:
        hits = int((pred & ref).sum())
    else:
        hits = sum(
            _matches(p.nonzero().flatten().tolist(), r.nonzero().flatten().tolist(), tolerance)
            for p, r in zip(pred, ref, strict=True)
        )
    n_pred, n_ref = int(pred.sum()), int(ref.sum())
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return BoundaryAgreement(precision, recall, f1, hits, n_pred, n_ref, pred.numel(), tolerance)


def boundary_matrix(
    layer: Recurrent,
    x: Tensor,
    lengths: Tensor | None = None,
    state: State | None = None,
) -> Tensor:
    """The boundary decisions of an HM-RNN over a sequence, for plotting.

    Runs ``layer.trajectory`` without gradient (in the layer's current mode) and returns
    ``z[b, t, l]`` for the boundary layers ``l = 1..L-1``: ``(B, T, L-1)``, 0/1 values, zero on
    padded steps (past ``lengths[b]``).
    """
    cell = getattr(layer, "cell", None)
    if not isinstance(cell, SegmentingCell) or not hasattr(layer, "trajectory"):
        raise TypeError(
            f"boundary_matrix needs a Recurrent over an HMRNNCell, got {type(layer).__name__} "
            f"over {type(cell).__name__}"
        )
    with torch.no_grad():
        _, _, states = layer.trajectory(x, state, lengths)
        z = cell.boundaries(states)  # (B, T, L-1)
        if lengths is not None:
            real = torch.arange(x.shape[1], device=z.device) < lengths.to(z.device).unsqueeze(1)
            z = z * real.unsqueeze(-1).to(z.dtype)
    return z


def hmrnn_boundaries(model: nn.Module, ids: Tensor, chunk: int = 256) -> dict[str, Tensor]:
    """The boundary decisions of every :class:`~rnnlab.cells.HMRNNCell` in a language model
    (:class:`~rnnlab.models.LanguageModel`) reading ``ids (S, N)``, ``S`` texts at once.

    Runs without gradient in eval mode, ``chunk`` steps at a time with the state carried
    (each text from the initial state, ``z = 0``). Returns ``{name: z (S, N)}`` with
    0/1 floats, ``z[s, t] = 1`` when the level ends a segment after reading ``ids[s, t]``;
    names are ``"level l"`` (``"layer k: level l"`` in a stack of several recurrent
    layers), for the levels with a boundary detector (all but the top one).
    """
    layers = getattr(model, "layers", None)
    embedding = getattr(model, "embedding", None)
    if not isinstance(layers, SequenceLayer) or not isinstance(embedding, nn.Embedding):
        raise ValueError(
            f"expected a LanguageModel (embedding + layers), got {type(model).__name__}"
        )
    if ids.dim() != 2 or ids.dtype != torch.long or ids.shape[1] == 0:
        raise ValueError(
            f"ids must be token ids of shape (S, N) with N > 0, got {tuple(ids.shape)} {ids.dtype}"
        )
    was_training = model.training
    model.eval()
    pieces: dict[str, list[Tensor]] = {}
    state: Any = None
    device = embedding.weight.device
    try:
        with torch.no_grad():
            for start in range(0, ids.shape[1], chunk):
                e = embedding(ids[:, start : start + chunk].to(device))  # (S, n, E)
                _, state, trajectories = layer_trajectories(layers, e, state)
                for k, tr in enumerate(trajectories):
                    if not isinstance(tr.cell, SegmentingCell):
                        continue
                    z = tr.cell.boundaries(tr.states).cpu()  # (S, n, L-1)
                    prefix = f"layer {k + 1}: " if len(trajectories) > 1 else ""
                    for l in range(z.shape[-1]):
                        pieces.setdefault(f"{prefix}level {l + 1}", []).append(z[..., l])
    finally:
        model.train(was_training)
    if not pieces:
        raise ValueError("the model has no HMRNNCell; train it with --model hmrnn")
    return {name: torch.cat(parts, dim=1) for name, parts in pieces.items()}
