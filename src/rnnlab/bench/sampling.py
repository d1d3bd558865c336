"""Sampling from a language model with its state carried vs recomputing the prefix
(``lm_sampling_carried_vs_recompute``)."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.bench.timing import BenchResult, compare, timing_config

SAMPLING_BENCH = "lm_sampling_carried_vs_recompute"
SAMPLING_SIZES: dict[str, int] = {"V": 65, "E": 512, "H": 512, "layers": 2, "tokens": 1000}
SAMPLING_QUICK_SIZES: dict[str, int] = {"V": 11, "E": 8, "H": 8, "layers": 2, "tokens": 12}


def run_sampling(quick: bool) -> BenchResult:
    """Generating ``tokens`` tokens from a 2-layer LSTM language model: one step at a time
    with the state carried (``LanguageModel.step``) vs re-reading the whole prefix at every
    step, as a model without a recurrent state (or a Transformer without a KV cache) must.
    Greedy decoding, so both produce the same tokens (checked). One warm-up and one timed
    run per side, whatever ``run_benchmarks``' ``repeats`` (recomputing takes over a minute).
    """
    from rnnlab.decoding import greedy
    from rnnlab.layers.build import build_layers
    from rnnlab.models.language import LanguageModel
    from rnnlab.tasks.base import Batch

    sizes = SAMPLING_QUICK_SIZES if quick else SAMPLING_SIZES
    V, E, H, L, n = sizes["V"], sizes["E"], sizes["H"], sizes["layers"], sizes["tokens"]
    model = LanguageModel(V, build_layers("lstm", E, H, num_layers=L)).eval()
    start = torch.zeros(1, dtype=torch.long)
    produced: dict[str, Tensor] = {}

    def carried() -> None:
        with torch.no_grad():
            produced["carried"] = greedy(model.step, None, start, n)[0]

    def recompute() -> None:
        tokens = [int(start)]
        with torch.no_grad():
            for _ in range(n):
                logits, _ = model(Batch(torch.tensor([tokens])))  # (1, t, V): the whole prefix
                tokens.append(int(logits[0, -1].argmax()))
        produced["recompute"] = torch.tensor(tokens[1:])

    # the recomputing side takes over a minute a run at full size: one warm-up, one timed run
    num_s, den_s = compare(carried, recompute, 1, warmup=1)
    if not torch.equal(produced["carried"], produced["recompute"]):
        raise RuntimeError("carried-state and recomputed greedy decoding disagree")
    config = timing_config(sizes, 1)
    config["warmup"] = 1
    config["pass"] = "generation (no gradient)"
    config["tokens_per_s_carried"] = n / num_s
    config["tokens_per_s_recompute"] = n / den_s
    return BenchResult(
        name=SAMPLING_BENCH,
        ratio=num_s / den_s,
        numerator=f"LanguageModel.step, state carried ({n} tokens, {n / num_s:.0f} tok/s)",
        denominator=f"recompute the prefix every token ({n / den_s:.0f} tok/s)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )
