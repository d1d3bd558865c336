"""The attention heads of a Transformer over one text: every layer's every head,
``softmax(q k^T / sqrt(d))`` from the exact path of :mod:`rnnlab.attention`.

A language model's self-attention (:func:`head_maps`), or an encoder-decoder's
cross-attention while it translates a sentence (:func:`cross_head_maps`): row ``i`` is where
the decoder looked over the source while predicting output token ``i``, the Transformer's
counterpart of the RNN encoder-decoder's map (:mod:`rnnlab.diagnostics.seq2seq`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rnnlab._io import write_json
from rnnlab.decoding.seq2seq import EOS, decode_sources
from rnnlab.tasks.seq2seq import collate_sources
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


@dataclass
class CrossHeadMaps:
    """``weights[layer][head]`` is a ``(len(output), len(source))`` map: row ``i`` is where
    the decoder looked over the source tokens while predicting ``output[i]`` (each row sums
    to 1). ``output`` ends with ``<eos>`` when the decoder emitted it."""

    text: str
    translation: str
    source: list[str]
    output: list[str]
    weights: list[list[list[list[float]]]]  # (layers, heads, len(output), len(source))

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


def has_cross_heads(model: Any) -> bool:
    """Whether ``model`` can show its cross-attention heads (a Transformer encoder-decoder)."""
    return callable(getattr(model, "cross_attention_weights", None))


def cross_head_maps(run: TrainedRun, text: str, beam: int = 1) -> CrossHeadMaps:
    """Every cross-attention head of every decoder layer of a Transformer encoder-decoder
    run while it decodes ``text`` (greedy, or beam search of width ``beam``): the decoded
    tokens are read again in one pass on the exact path, which gives the weights the
    cached decoding used (the cache equals recomputation, tests/models)."""
    if not text.strip():
        raise ValueError('diagnose attention needs a non-empty --text "..."')
    model: Any = run.model
    if not has_cross_heads(model):
        raise ValueError(
            f"run {run.run_dir} has no cross-attention heads to show ({type(model).__name__})"
        )
    codec = run.codec
    x, lengths = collate_sources([codec.encode_source(text)])
    device = next(model.parameters()).device
    x = x.to(device)
    penalty = run.config.train.length_penalty
    decoded = decode_sources(
        model, x, lengths, codec.max_target_length, beam_size=beam, length_penalty=penalty
    )
    ids = decoded.tokens[0]
    output = codec.tgt_vocab.decode(ids)
    if len(ids) < codec.max_target_length:  # stopped by EOS, not by the length limit
        ids, output = [*ids, EOS], [*output, "<eos>"]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        outputs = torch.tensor([ids], dtype=torch.long, device=device)
        layers = model.cross_attention_weights(x, lengths.to(device), outputs)
    model.train(was_training)
    weights = [[head.tolist() for head in w[0].float().cpu()] for w in layers]
    translation = run.translate([text], beam=beam, length_penalty=penalty)[0]
    return CrossHeadMaps(text, translation, run.source_tokens(text), output, weights)


def diagnose_cross_heads(
    run_dir: str, text: str, out_dir: str | Path, beam: int = 1
) -> CrossHeadMaps:
    """Write ``cross_heads.json`` and ``cross_heads.png`` (a grid, decoder layers down,
    heads across; output tokens down, source tokens across in each map)."""
    from rnnlab.diagnostics.plots import plot_cross_heads

    run = load(run_dir)
    result = cross_head_maps(run, text, beam)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "cross_heads.json", {"run": str(run_dir), **result.to_dict()})
    plot_cross_heads(result, out / "cross_heads.png", f"{Path(run_dir).name}: {text}")
    return result
