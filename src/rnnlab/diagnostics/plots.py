"""Figures for the diagnostics (matplotlib, written to PNG files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnlab._io import atomic_write
from rnnlab.diagnostics.exposure import ExposureCurve
from rnnlab.diagnostics.exposure_text import TextExposureCurve
from rnnlab.diagnostics.gradflow import GradientFlow
from rnnlab.diagnostics.heads import CrossHeadMaps, HeadMaps
from rnnlab.diagnostics.jacobian import JacobianSpectrum
from rnnlab.diagnostics.memory import MemoryTrace
from rnnlab.diagnostics.seq2seq import AttentionMap, LengthCurve


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: object, path: Path) -> None:
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120))  # type: ignore[attr-defined]


_CMAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")


def _curves(flow: GradientFlow) -> dict[str, list[float]]:
    """What the right panel shows of one model: its parts (clockwork modules, HM-RNN
    levels) if any, else its layers if several, else its whole state."""
    if flow.parts:
        return {k: v.norms for k, v in flow.parts.items()}
    if len(flow.layers) > 1:
        return {k: v.norms for k, v in flow.layers.items()}
    return {"": flow.norms}


def plot_gradflow(results: Mapping[str, GradientFlow], path: Path, title: str) -> None:
    """All models' :math:`\\lVert \\partial L/\\partial s_t \\rVert` against ``t``, log scale;
    when some model has several layers or a structured state, a second panel shows its
    per-layer / per-module curves (light: bottom layer or fast module; dark: top or slow).
    That panel leaves out steps whose gradient is exactly zero (no path to the loss, as on
    the chains of a dilated layer that the readout never reads, or float64 underflow)."""
    plt = _pyplot()
    detailed = any(f.parts or len(f.layers) > 1 for f in results.values())
    fig, axes = plt.subplots(1, 2 if detailed else 1, figsize=(15, 4.8) if detailed else (7, 4.2))
    ax = axes[0] if detailed else axes
    for name, flow in results.items():
        steps = range(1, len(flow.norms) + 1)
        ax.plot(steps, _floor(flow.norms), label=f"{name} (first/last {flow.ratio_first_last:.2g})")
    ax.set_title(title)
    ax.set_ylabel("||dL/dh_t||")
    ax.legend(fontsize=7 if detailed else 8)
    panels = [ax]
    if detailed:
        right = axes[1]
        for i, (name, flow) in enumerate(results.items()):
            curves = _curves(flow)
            cmap = plt.get_cmap(_CMAPS[i % len(_CMAPS)])
            for j, (part, norms) in enumerate(curves.items()):
                shade = 0.4 + 0.6 * (j + 1) / len(curves) if len(curves) > 1 else 0.8
                kept = [(t, v) for t, v in enumerate(norms, start=1) if v > 0]
                right.plot(
                    [t for t, _ in kept],
                    [v for _, v in kept],
                    color=cmap(shade),
                    lw=1.2,
                    label=f"{name} {part}".strip(),
                )
        right.set_title("per layer / module (light: bottom, fast; dark: top, slow); zeros left out")
        right.set_ylabel("||dL/dh_t|| of the part")
        right.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        panels.append(right)
    for a in panels:
        a.set_yscale("log")
        a.set_xlabel("step t")
        a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_jacobian(results: Mapping[str, JacobianSpectrum], path: Path, title: str) -> None:
    """Per model: the step Jacobians' largest/smallest singular values and the product's."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, spectrum in results.items():
        steps = range(1, len(spectrum.step) + 1)
        (line,) = axes[0].plot(steps, [s[0] for s in spectrum.step], label=f"{name} max")
        axes[0].plot(steps, [s[-1] for s in spectrum.step], ls="--", color=line.get_color())
        axes[1].plot(
            steps, _floor(spectrum.product_max), label=f"{name} max", color=line.get_color()
        )
        axes[1].plot(steps, _floor(spectrum.product_min), ls="--", color=line.get_color())
    axes[0].set_title("singular values of ds_t/ds_{t-1} (solid max, dashed min)")
    axes[1].set_title("singular values of ds_t/ds_0 (solid max, dashed min)")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("step t")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_clipping(norms: Sequence[float], clip: float | None, path: Path, title: str) -> None:
    """The pre-clip gradient norm of every training step, with the threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(range(1, len(norms) + 1), _floor(norms), lw=0.6)
    if clip is not None:
        ax.axhline(clip, color="red", ls="--", label=f"clip {clip:g}")
        ax.legend()
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("pre-clip gradient norm")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_exposure(results: Mapping[str, ExposureCurve], path: Path, title: str) -> None:
    """Per model: mean KL(P_true || Q_model) against the position, free-running (solid) and
    teacher-forced (dashed) in one colour, with bands of two standard errors."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, curve in results.items():
        t = range(1, curve.kl.numel() + 1)
        (line,) = ax.plot(t, curve.kl.tolist(), label=f"{name} free-running ({curve.mean_kl:.4f})")
        color = line.get_color()
        ax.plot(
            t,
            curve.kl_teacher_forced.tolist(),
            ls="--",
            color=color,
            label=f"{name} teacher-forced ({curve.mean_kl_teacher_forced:.4f})",
        )
        bands = ((curve.kl, curve.kl_se), (curve.kl_teacher_forced, curve.kl_teacher_forced_se))
        for kl, se in bands:
            low, high = (kl - 2 * se).tolist(), (kl + 2 * se).tolist()
            ax.fill_between(t, low, high, color=color, alpha=0.12, lw=0)
    ax.set_xlabel("position t (symbols generated)")
    ax.set_ylabel("KL(P_true || Q_model), nats")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_text_exposure(results: Mapping[str, TextExposureCurve], path: Path, title: str) -> None:
    """Per model, left: the entropy gap :math:`H^{fr}_t - H^{tf}_t` averaged over windows
    of positions (0 for a model that matches the data), with bars of two standard errors
    and the mean entropies in the legend; right: the n-gram JS divergence from the text
    per window, free-running (solid) and of the true continuations (dotted, the
    finite-sample floor)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    axes[0].axhline(0.0, color="black", lw=0.8)
    for name, curve in results.items():
        middle = [(a + b) / 2 for a, b in curve.windows]
        gap, se = curve.entropy_gap_windows()
        label = (
            f"{name}: H free {float(curve.entropy_free.mean()):.3f}, "
            f"teacher-forced {float(curve.entropy_teacher_forced.mean()):.3f}"
        )
        container = axes[0].errorbar(
            middle, gap.tolist(), yerr=(2 * se).tolist(), marker="o", ms=3, capsize=2, label=label
        )
        color = container.lines[0].get_color()
        axes[1].plot(
            middle,
            curve.js_free.tolist(),
            marker="o",
            ms=3,
            color=color,
            label=f"{name} generated ({float(curve.js_free.mean()):.4f})",
        )
        axes[1].plot(
            middle,
            curve.js_true.tolist(),
            ls=":",
            color=color,
            label=f"{name} true continuations ({float(curve.js_true.mean()):.4f})",
        )
    axes[0].set_ylabel("H(Q | own prefix) - H(Q | true prefix), nats")
    axes[0].set_title("entropy gap, free-running minus teacher-forced (per window)")
    n = next(iter(results.values())).ngram if results else 2
    axes[1].set_ylabel(f"JS({n}-grams of the window || text), nats")
    axes[1].set_title(f"{n}-gram divergence from the text (dotted: floor)")
    for ax in axes:
        ax.set_xlabel("position t (characters after the prefix)")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_attention(result: AttentionMap, path: Path, title: str) -> None:
    """Heatmap of the attention weights: output tokens down, source tokens across."""
    plt = _pyplot()
    weights = result.weights
    rows, cols = len(weights), len(weights[0]) if weights else 0
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * cols + 2), max(3.0, 0.35 * rows + 1.5)))
    image = ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols))
    ax.set_xticklabels([_visible(t) for t in result.source[:cols]], rotation=90, fontsize=8)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([_visible(t) for t in result.output[:rows]], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_length(results: Mapping[str, LengthCurve], path: Path, title: str) -> None:
    """Each run's metric against the source length (bucket midpoints), one line per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    metric = ""
    for name, curve in results.items():
        metric = curve.metric
        points = [
            ((lo + hi) / 2, v) for (lo, hi), v in zip(curve.lengths, curve.values, strict=True)
        ]
        xs = [x for x, v in points if v is not None]
        ys = [v for _, v in points if v is not None]
        label = f"{name} (attention {curve.attention}; overall {curve.overall:.3f})"
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("source length (tokens)")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _floor(values: Sequence[float]) -> list[float]:
    return [max(v, 1e-300) for v in values]


def _visible(char: str) -> str:
    """A tick label for a character: spaces and line breaks made visible."""
    return {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}.get(char, char)


def plot_boundaries(
    chars: Sequence[str],
    boundaries: Mapping[str, Sequence[float]],
    reference: Sequence[bool],
    path: Path,
    title: str,
    per_line: int = 80,
) -> None:
    """The characters along x, one row per boundary level (top: slowest) with a filled cell
    where the level ends a segment (z_t = 1), and a bottom row marking the reference word
    boundaries (spaces and punctuation); long texts wrap every ``per_line`` characters."""
    import numpy as np

    plt = _pyplot()
    names = list(reversed(list(boundaries)))  # slowest level on top
    rows = [*names, "space/punct"]
    n = len(chars)
    lines = max(1, -(-n // per_line))
    height = 0.32 * len(rows) + 0.75
    fig, axes = plt.subplots(
        lines, 1, figsize=(0.16 * min(n, per_line) + 2.2, height * lines + 0.4), squeeze=False
    )
    boundary_rgb, word_rgb = (0.12, 0.3, 0.65), (0.95, 0.55, 0.1)
    for line, ax in enumerate(axes[:, 0]):
        lo, hi = line * per_line, min(n, (line + 1) * per_line)
        image = np.ones((len(rows), hi - lo, 3))
        for r, name in enumerate(names):
            image[r, np.asarray(boundaries[name][lo:hi], dtype=float) > 0.5] = boundary_rgb
        image[-1, np.asarray(reference[lo:hi], dtype=bool)] = word_rgb
        ax.imshow(image, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(hi - lo))
        ax.set_xticklabels([_visible(c) for c in chars[lo:hi]], fontsize=8, family="monospace")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(rows, fontsize=7)
        ax.set_xticks([x - 0.5 for x in range(hi - lo + 1)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(len(rows) + 1)], minor=True)
        ax.grid(True, which="minor", color="0.85", lw=0.5)
        ax.tick_params(which="minor", length=0)
    axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_memory(trace: MemoryTrace, path: Path) -> None:
    """An NTM on one sequence, time along x: inputs, targets and outputs (0..1), then each
    write head's and each read head's weighting over the memory slots (the slots some head
    gives more than 0.05 at some step, with a margin; darker is more weight, black the
    panel's largest)."""
    import numpy as np

    plt = _pyplot()
    writes = np.asarray(trace.write_weights)  # (W, T, N)
    reads = np.asarray(trace.read_weights)  # (R, T, N)
    used = np.nonzero(np.concatenate([writes, reads]).max(axis=(0, 1)) > 0.05)[0]
    lo, hi = (0, writes.shape[-1]) if used.size == 0 else (int(used.min()), int(used.max()) + 1)
    lo, hi = max(0, lo - 2), min(writes.shape[-1], hi + 2)
    panels: list[tuple[str, Any]] = [("inputs", np.asarray(trace.inputs).T)]
    if trace.targets and trace.targets[0]:
        panels += [
            ("targets", np.asarray(trace.targets).T),
            ("outputs", np.asarray(trace.outputs).T),
        ]
    panels += [
        (f"write head {h} (slots {lo}-{hi - 1})", w[:, lo:hi].T) for h, w in enumerate(writes)
    ]
    panels += [(f"read head {h} (slots {lo}-{hi - 1})", r[:, lo:hi].T) for h, r in enumerate(reads)]
    heights = [max(2.0, min(6.0, p.shape[0] / 6)) for _, p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, sum(heights) * 0.45 + 1), sharex=True)
    for i, (ax, (name, image)) in enumerate(zip(axes, panels, strict=True)):
        weights = i >= len(panels) - len(writes) - len(reads)
        top = max(float(image.max()), 1e-6) if weights else 1.0
        ax.imshow(image, aspect="auto", cmap="Greys", vmin=0, vmax=top, interpolation="nearest")
        ax.set_ylabel(name, fontsize=7, rotation=0, ha="right")
        ax.set_yticks([])
    axes[0].set_title(f"{trace.task} T={trace.T}, row {trace.row}: {trace.label}", fontsize=8)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_heads(result: HeadMaps, path: Path, title: str) -> None:
    """A grid of attention maps: layers down, heads across; queries down, keys across."""
    plt = _pyplot()
    layers, heads = len(result.weights), len(result.weights[0])
    T = len(result.tokens)
    size = max(2.0, 0.12 * T + 1.0)
    fig, axes = plt.subplots(layers, heads, figsize=(size * heads, size * layers), squeeze=False)
    labels = [_visible(t) for t in result.tokens]
    for i in range(layers):
        for j in range(heads):
            ax = axes[i][j]
            ax.imshow(result.weights[i][j], cmap="Greys", vmin=0.0, vmax=1.0)
            ax.set_title(f"layer {i + 1}, head {j + 1}", fontsize=8)
            ax.set_xticks(range(T))
            ax.set_yticks(range(T))
            ax.set_xticklabels(labels if i == layers - 1 else [], fontsize=6)
            ax.set_yticklabels(labels if j == 0 else [], fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_cross_heads(result: CrossHeadMaps, path: Path, title: str) -> None:
    """A grid of cross-attention maps: decoder layers down, heads across; in each map the
    output tokens down and the source tokens across."""
    plt = _pyplot()
    layers, heads = len(result.weights), len(result.weights[0])
    rows, cols = len(result.output), len(result.source)
    width, height = max(2.0, 0.22 * cols + 1.2), max(2.0, 0.22 * rows + 1.0)
    fig, axes = plt.subplots(layers, heads, figsize=(width * heads, height * layers), squeeze=False)
    src = [_visible(t) for t in result.source]
    out = [_visible(t) for t in result.output]
    for i in range(layers):
        for j in range(heads):
            ax = axes[i][j]
            ax.imshow(result.weights[i][j], cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
            ax.set_title(f"layer {i + 1}, head {j + 1}", fontsize=8)
            ax.set_xticks(range(cols))
            ax.set_yticks(range(rows))
            ax.set_xticklabels(src if i == layers - 1 else [], rotation=90, fontsize=6)
            ax.set_yticklabels(out if j == 0 else [], fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
