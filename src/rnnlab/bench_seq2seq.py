"""Encoder-decoder speed benchmarks, as ratios (run by :func:`rnnlab.bench.run_benchmarks`).

* ``beam_batched_vs_one_at_a_time``: beam search (``k = 5``) over many source sentences,
  all sentences and beams of a chunk in one batch (:func:`rnnlab.decoding.decode_sources`)
  vs the same :func:`rnnlab.decoding.beam_search` run one sentence at a time. The outputs
  must be identical (checked: the best hypothesis of every sentence, token for token).
  By default an untrained :class:`~rnnlab.models.EncoderDecoder` of translation size
  (bidirectional GRU-384 encoder, additive attention, 8000 output words) decodes the
  ``val`` sources of the generated ``reverse`` task (lengths 1-25), so it runs without
  data; an untrained model rarely ends a hypothesis, so every sentence runs to the length
  limit. Pass ``model`` and ``sources`` to time a trained model on real sentences, or
  ``sources`` from :func:`multi30k_sources` (``rnnlab bench --data FOLDER``) to decode
  Multi30k's validation set.
* ``seq2seq_train_vs_sketch``: one training step (forward, backward, Adam) of rnnlab's
  encoder-decoder vs a plain sketch of the same model written as in the PyTorch tutorial
  (keys re-projected and the output layer applied at every decoder step, ``nn.GRU``
  called one step at a time), on the same synthetic batch shaped like Multi30k (64 pairs,
  lengths 8-18, 6000 source and 8000 target words, bidirectional GRU-384 encoder, additive
  attention, embeddings 256).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

BEAM_BENCH = "beam_batched_vs_one_at_a_time"
TRAIN_BENCH = "seq2seq_train_vs_sketch"
BEAM_SIZES: dict[str, int] = {
    "sentences": 200,
    "T": 25,
    "V_tgt": 8000,
    "E": 256,
    "H": 384,
    "k": 5,
    "chunk": 128,  # sentences per batch (x k beams): 640 rows
}
BEAM_QUICK_SIZES: dict[str, int] = {
    "sentences": 5,
    "T": 6,
    "V_tgt": 40,
    "E": 8,
    "H": 8,
    "k": 3,
    "chunk": 2,
}
TRAIN_SIZES: dict[str, int] = {"B": 64, "V_src": 6000, "V_tgt": 8000, "E": 256, "H": 384}
TRAIN_QUICK_SIZES: dict[str, int] = {"B": 4, "V_src": 30, "V_tgt": 40, "E": 8, "H": 8}
MIN_LENGTH, MAX_LENGTH = 8, 18  # synthetic training pairs: words per sentence


def _untrained_model(vocab: int, E: int, H: int, V_tgt: int | None = None) -> Any:
    from rnnlab.models.build import ModelConfig, build_model

    config = ModelConfig(cell="gru", hidden_size=H, embedding_size=E, bidirectional=True)
    return build_model(config, "seq2seq", vocab, V_tgt or vocab).eval()


def beam_benchmark(
    repeats: int,
    quick: bool = False,
    model: Any = None,
    sources: Sequence[Sequence[int]] | None = None,
    max_length: int | None = None,
) -> Any:
    """Batched beam search vs one sentence at a time (see the module docstring).

    Args:
        repeats: timed runs of the batched side (the one-at-a-time side runs once).
        quick: tiny sizes, for tests.
        model: an encoder-decoder (default: untrained, over the ``reverse`` task).
        sources: source id lists without specials (default: the ``reverse`` val split).
        max_length: the decoding limit (default: the longest source + 10).
    """
    from rnnlab.bench import BenchResult, _timing_config, compare
    from rnnlab.decoding import beam_search, decode_sources
    from rnnlab.tasks.registry import TaskOptions, build_task
    from rnnlab.tasks.seq2seq import collate_sources, source_ids
    from rnnlab.tasks.tokens import BOS, EOS

    sizes = dict(BEAM_QUICK_SIZES if quick else BEAM_SIZES)
    k, chunk = sizes["k"], sizes["chunk"]
    if sources is None:
        task = build_task("reverse", TaskOptions(T=sizes["T"]))
        val = task.split("val")
        assert val.lengths is not None
        sources = source_ids(val.x, val.lengths)[: sizes["sentences"]]
    if model is None:
        vocab = max(5, 1 + max((max(s) for s in sources if s), default=0))
        model = _untrained_model(vocab, sizes["E"], sizes["H"], sizes["V_tgt"])
    sizes["sentences"] = len(sources)
    x, lengths = collate_sources(sources)
    limit = max_length if max_length is not None else int(lengths.max()) + 10
    outputs: dict[str, list[list[int]]] = {}

    def batched() -> None:
        out = decode_sources(model, x, lengths, limit, beam_size=k, batch_size=chunk)
        outputs["batched"] = out.tokens

    def one_at_a_time() -> None:
        tokens: list[list[int]] = []
        with torch.no_grad():
            for src in sources:
                xi, li = collate_sources([src])
                state = model.encode(xi, li)
                start = torch.full((1,), BOS, dtype=torch.long)
                best = beam_search(model.step, state, start, k, limit, EOS).tokens[0, 0].tolist()
                tokens.append(best[: best.index(EOS)] if EOS in best else best)
        outputs["single"] = tokens

    model.eval()
    num_s, den_s = compare(batched, one_at_a_time, 1, warmup=0)
    if repeats > 1:  # more timings of the fast side only
        times = [num_s]
        for _ in range(repeats - 1):
            times.append(compare(batched, lambda: None, 1, warmup=0)[0])
        num_s = sorted(times)[len(times) // 2]
    differ = sum(a != b for a, b in zip(outputs["batched"], outputs["single"], strict=True))
    if differ:
        raise RuntimeError(f"batched and one-at-a-time beam search disagree on {differ} sentences")
    config = _timing_config(sizes, repeats)
    config["pass"] = "generation (no gradient)"
    config["max_length"] = limit
    config["sentences_per_s_batched"] = len(sources) / num_s
    config["sentences_per_s_single"] = len(sources) / den_s
    return BenchResult(
        name=BEAM_BENCH,
        ratio=num_s / den_s,
        numerator=f"beam search k={k}, {chunk} sentences x {k} beams per batch",
        denominator=f"beam search k={k}, one sentence at a time ({len(sources)} sentences)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )


def multi30k_sources(folder: str, lang: str = "en") -> list[list[int]]:
    """Multi30k's validation sentences of ``lang`` (``val.{lang}`` in ``folder``, or its
    ``multi30k`` subfolder) as source id lists for :func:`beam_benchmark`: Moses tokens,
    ids from a vocabulary of those sentences themselves (any consistent ids will do for
    an untrained model; their lengths are the real ones)."""
    from rnnlab.tasks.moses import MosesTokenizer
    from rnnlab.tasks.tokens import TokenVocab
    from rnnlab.tasks.translation_data import read_split_side

    sentences = read_split_side(folder, "val", lang)
    tok = MosesTokenizer(lang)
    tokens = [tok.tokenize(s) for s in sentences]
    vocab = TokenVocab.build(tokens)
    return [vocab.encode(t) for t in tokens if t]


class SketchSeq2Seq(nn.Module):
    """A plain encoder-decoder written the way tutorials do (the benchmark's baseline).

    Bidirectional ``nn.GRU`` encoder; a Bahdanau decoder that at every step re-projects
    the keys ``W_k h_j``, scores them against the previous state, runs ``nn.GRU`` for one
    step on ``[embedding; context]`` and applies the output layer and the loss to that
    step alone.
    """

    def __init__(self, V_src: int, V_tgt: int, E: int, H: int) -> None:
        super().__init__()
        self.src_embedding = nn.Embedding(V_src, E)
        self.tgt_embedding = nn.Embedding(V_tgt, E)
        self.encoder = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * H, H)
        self.W_q = nn.Linear(H, H, bias=False)
        self.W_k = nn.Linear(2 * H, H)
        self.v = nn.Linear(H, 1, bias=False)
        self.decoder = nn.GRU(E + 2 * H, H, batch_first=True)
        self.out = nn.Linear(H, V_tgt)

    def loss(self, x: Tensor, lengths: Tensor, y: Tensor) -> Tensor:
        packed = pack_padded_sequence(
            self.src_embedding(x), lengths, batch_first=True, enforce_sorted=False
        )
        out, h_n = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True)  # (B, S, 2H)
        mask = torch.arange(memory.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        s = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], dim=-1))).unsqueeze(0)
        token = torch.full_like(y[:, 0], 1)  # BOS
        total = memory.new_zeros(())
        for t in range(y.shape[1]):
            keys = self.W_k(memory)  # re-projected at every step
            e = self.v(torch.tanh(self.W_q(s[-1]).unsqueeze(1) + keys)).squeeze(-1)
            alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=-1)
            context = torch.bmm(alpha.unsqueeze(1), memory)  # (B, 1, 2H)
            inp = torch.cat([self.tgt_embedding(token).unsqueeze(1), context], dim=-1)
            o, s = self.decoder(inp, s)
            logits = self.out(o.squeeze(1))
            total = total + F.cross_entropy(logits, y[:, t], ignore_index=-100, reduction="sum")
            token = y[:, t].clamp(min=0)  # teacher forcing
        return total / (y != -100).sum()


def _synthetic_pairs(B: int, V_src: int, V_tgt: int, g: torch.Generator) -> Any:
    from rnnlab.tasks.seq2seq import collate

    def sentences(V: int) -> list[list[int]]:
        lengths = torch.randint(MIN_LENGTH, MAX_LENGTH + 1, (B,), generator=g).tolist()
        return [torch.randint(4, V, (n,), generator=g).tolist() for n in lengths]

    return collate(sentences(V_src), sentences(V_tgt))


def train_benchmark(repeats: int, quick: bool = False) -> Any:
    """rnnlab's encoder-decoder training step vs :class:`SketchSeq2Seq` (same sizes)."""
    from rnnlab.bench import BenchResult, _timing_config, compare
    from rnnlab.models.build import ModelConfig, build_model

    sizes = TRAIN_QUICK_SIZES if quick else TRAIN_SIZES
    B, V_src, V_tgt, E, H = (sizes[k] for k in ("B", "V_src", "V_tgt", "E", "H"))
    config = ModelConfig(cell="gru", hidden_size=H, embedding_size=E, bidirectional=True)
    ours = build_model(config, "seq2seq", V_src, V_tgt)
    sketch = SketchSeq2Seq(V_src, V_tgt, E, H)
    batch = _synthetic_pairs(B, V_src, V_tgt, torch.Generator().manual_seed(0))
    opt_ours = torch.optim.Adam(ours.parameters())
    opt_sketch = torch.optim.Adam(sketch.parameters())

    def step_ours() -> None:
        logits = ours(batch.x, batch.lengths, batch.y)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.y.flatten(), ignore_index=-100)
        opt_ours.zero_grad(set_to_none=True)
        loss.backward()
        opt_ours.step()

    def step_sketch() -> None:
        loss = sketch.loss(batch.x, batch.lengths, batch.y)
        opt_sketch.zero_grad(set_to_none=True)
        loss.backward()
        opt_sketch.step()

    num_s, den_s = compare(step_ours, step_sketch, repeats)
    timing = _timing_config({**sizes, "min_length": MIN_LENGTH, "max_length": MAX_LENGTH}, repeats)
    timing["pass"] = "training step (forward, backward, Adam)"
    timing["s_per_batch_rnnlab"] = num_s
    timing["s_per_batch_sketch"] = den_s
    return BenchResult(
        name=TRAIN_BENCH,
        ratio=num_s / den_s,
        numerator="rnnlab EncoderDecoder (bi-GRU encoder, additive attention, input feeding)",
        denominator="tutorial-style sketch (per-step keys, nn.GRU step, per-step output layer)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=timing,
    )
