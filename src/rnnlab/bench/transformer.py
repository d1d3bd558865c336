"""Transformer benchmarks.

* ``transformer_kv_cache_vs_recompute``: greedy generation of 512 tokens from rnnlab's
  Transformer LM, one token at a time through its key/value cache (``TransformerLM.step``)
  vs re-reading the whole prefix at every token; the same tokens (checked). Target: the
  cache >= 5x faster (ratio <= 0.2).
* ``transformer_lm_step_vs_plain``: one training step (forward, cross-entropy, backward,
  AdamW) of rnnlab's Transformer LM vs the same architecture written plainly here
  (nanoGPT-style: learned positions, pre-norm blocks with a fused QKV projection and
  ``scaled_dot_product_attention(is_causal=True)``, GELU MLP, tied output layer), the
  same batch. Target: tokens/s ratio >= 1.0 (time ratio <= 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.bench.timing import BenchResult, compare, lm_train_step, timing_config

if TYPE_CHECKING:
    from rnnlab.models import TransformerLM

KV_CACHE_BENCH = "transformer_kv_cache_vs_recompute"
TRAIN_STEP_BENCH = "transformer_lm_step_vs_plain"
SIZES: dict[str, int] = {"V": 65, "B": 32, "T": 128, "H": 128, "layers": 4, "heads": 4}
QUICK_SIZES: dict[str, int] = {"V": 11, "B": 2, "T": 8, "H": 8, "layers": 2, "heads": 2}
TOKENS, QUICK_TOKENS = 512, 12


def _model(sizes: dict[str, int], positions: str, max_length: int) -> TransformerLM:
    from rnnlab.models import TransformerConfig, TransformerLM, build_model
    from rnnlab.tasks.spec import TaskSpec

    config = TransformerConfig(
        num_layers=sizes["layers"],
        num_heads=sizes["heads"],
        hidden_size=sizes["H"],
        positions=positions,
        max_length=max_length,
    )
    model = build_model(config, TaskSpec("lm", sizes["V"], sizes["V"]))
    assert isinstance(model, TransformerLM)
    return model


def run_kv_cache(quick: bool, repeats: int) -> BenchResult:
    from rnnlab.decoding import greedy
    from rnnlab.tasks.base import Batch

    sizes = QUICK_SIZES if quick else SIZES
    n = QUICK_TOKENS if quick else TOKENS
    model = _model(sizes, "rotary", n + 1).eval()
    start = torch.zeros(1, dtype=torch.long)
    produced: dict[str, Tensor] = {}

    def cached() -> None:
        with torch.no_grad():
            produced["cached"] = greedy(model.step, None, start, n)[0]

    def recompute() -> None:
        tokens = [int(start)]
        with torch.no_grad():
            for _ in range(n):
                logits, _ = model(Batch(torch.tensor([tokens])))  # (1, t, V): the whole prefix
                tokens.append(int(logits[0, -1].argmax()))
        produced["recompute"] = torch.tensor(tokens[1:])

    num_s, den_s = compare(cached, recompute, repeats, warmup=1)
    if not torch.equal(produced["cached"], produced["recompute"]):
        raise RuntimeError("cached and recomputed greedy decoding disagree")
    model_sizes = {k: v for k, v in sizes.items() if k not in ("B", "T")}  # one row, no T
    config = timing_config({**model_sizes, "tokens": n}, repeats)
    config["pass"] = "generation (no gradient)"
    config["tokens_per_s_cached"] = n / num_s
    config["tokens_per_s_recompute"] = n / den_s
    L, H = sizes["layers"], sizes["H"]
    return BenchResult(
        name=KV_CACHE_BENCH,
        ratio=num_s / den_s,
        numerator=f"TransformerLM.step, KV cache ({L}x{H}, {n} tokens, {n / num_s:.0f} tok/s)",
        denominator=f"recompute the prefix every token ({n / den_s:.0f} tok/s)",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )


class PlainBlock(nn.Module):
    """nanoGPT's block: x + attn(ln(x)), x + mlp(ln(x))."""

    def __init__(self, E: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(E), nn.LayerNorm(E)
        self.qkv, self.proj = nn.Linear(E, 3 * E), nn.Linear(E, E)
        self.mlp = nn.Sequential(nn.Linear(E, 4 * E), nn.GELU(), nn.Linear(4 * E, E))

    def forward(self, x: Tensor) -> Tensor:
        B, T, E = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(E, dim=2)
        q, k, v = (t.view(B, T, self.heads, E // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, E))
        return x + self.mlp(self.ln2(x))


class PlainTransformerLM(nn.Module):
    """nanoGPT's model: token + learned position embeddings, blocks, LayerNorm, tied head."""

    def __init__(self, V: int, E: int, layers: int, heads: int, max_length: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, E), nn.Embedding(max_length, E)
        self.blocks = nn.Sequential(*(PlainBlock(E, heads) for _ in range(layers)))
        self.ln_f = nn.LayerNorm(E)

    def forward(self, x: Tensor) -> Tensor:
        pos = torch.arange(x.shape[1], device=x.device)
        h = self.ln_f(self.blocks(self.wte(x) + self.wpe(pos)))
        return h @ self.wte.weight.T  # (B, T, V)


def run_train_step(quick: bool, repeats: int) -> BenchResult:
    from rnnlab.tasks.base import Batch

    sizes = QUICK_SIZES if quick else SIZES
    V, B, T, H, L, heads = (sizes[k] for k in ("V", "B", "T", "H", "layers", "heads"))
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(V, (B, T), generator=generator)
    y = torch.randint(V, (B, T), generator=generator)
    ours = _model(sizes, "learned", T)
    plain = PlainTransformerLM(V, H, L, heads, T)
    batch = Batch(x, y)

    def step(model: nn.Module, forward: Callable[[], Tensor]) -> Callable[[], None]:
        return lm_train_step(model, forward, y, lr=1e-3)

    num_s, den_s = compare(
        step(ours, lambda: ours(batch)[0]), step(plain, lambda: plain(x)), repeats
    )
    config = timing_config(sizes, repeats)
    config["pass"] = "forward+backward+AdamW"
    config["tokens_per_s_ratio"] = den_s / num_s  # rnnlab's tokens/s over the plain script's
    return BenchResult(
        name=TRAIN_STEP_BENCH,
        ratio=num_s / den_s,
        numerator=f"rnnlab TransformerLM ({L}x{H}, {heads} heads, learned positions) step",
        denominator="the same architecture written plainly (nanoGPT-style) step",
        numerator_s=num_s,
        denominator_s=den_s,
        config=config,
    )
