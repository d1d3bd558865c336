"""``beam_batched_vs_one_at_a_time``: beam search (``k = 5``) over many source sentences,
all sentences and beams of a chunk in one batch (:func:`rnnlab.decoding.decode_sources`)
vs the same :func:`rnnlab.decoding.beam_search` run one sentence at a time.

The outputs must be identical (checked: the best hypothesis of every sentence, token for
token). By default an untrained :class:`~rnnlab.models.EncoderDecoder` of translation size
(bidirectional GRU-384 encoder, additive attention, 8000 output words) decodes the
``val`` sources of the generated ``reverse`` task (lengths 1-25), so it runs without
data; an untrained model rarely ends a hypothesis, so every sentence runs to the length
limit. Pass ``model`` and ``sources`` to time a trained model on real sentences, or
``sources`` from :func:`multi30k_sources` (``rnnlab bench --data FOLDER``) to decode
Multi30k's validation set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rnnlab.bench.timing import BenchResult, compare, timing_config

BEAM_BENCH = "beam_batched_vs_one_at_a_time"
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


def _untrained_model(vocab: int, E: int, H: int, V_tgt: int | None = None) -> Any:
    from rnnlab.models import RNNConfig, build_model
    from rnnlab.tasks.spec import TaskSpec

    config = RNNConfig(cell="gru", hidden_size=H, embedding_size=E, bidirectional=True)
    return build_model(config, TaskSpec("seq2seq", vocab, V_tgt or vocab)).eval()


def beam_benchmark(
    repeats: int,
    quick: bool = False,
    model: Any = None,
    sources: Sequence[Sequence[int]] | None = None,
    max_length: int | None = None,
) -> BenchResult:
    """Batched beam search vs one sentence at a time (see the module docstring).

    Args:
        repeats: timed runs of the batched side (the one-at-a-time side runs once).
        quick: tiny sizes, for tests.
        model: an encoder-decoder (default: untrained, over the ``reverse`` task).
        sources: source id lists without specials (default: the ``reverse`` val split).
        max_length: the decoding limit (default: the longest source + 10).
    """
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
    config = timing_config(sizes, repeats)
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
