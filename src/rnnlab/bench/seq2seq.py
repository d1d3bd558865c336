"""``seq2seq_train_vs_sketch``: one training step (forward, backward, Adam) of rnnlab's
encoder-decoder vs a plain sketch of the same model written as in the PyTorch tutorial
(keys re-projected and the output layer applied at every decoder step, ``nn.GRU`` called
one step at a time), on the same synthetic batch shaped like Multi30k (64 pairs, lengths
8-18, 6000 source and 8000 target words, bidirectional GRU-384 encoder, additive
attention, embeddings 256).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.bench.timing import BenchResult, compare, optimizer_steps, timing_config

TRAIN_BENCH = "seq2seq_train_vs_sketch"
TRAIN_SIZES: dict[str, int] = {"B": 64, "V_src": 6000, "V_tgt": 8000, "E": 256, "H": 384}
TRAIN_QUICK_SIZES: dict[str, int] = {"B": 4, "V_src": 30, "V_tgt": 40, "E": 8, "H": 8}
MIN_LENGTH, MAX_LENGTH = 8, 18  # synthetic training pairs: words per sentence


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


def train_benchmark(repeats: int, quick: bool = False) -> BenchResult:
    """rnnlab's encoder-decoder training step vs :class:`SketchSeq2Seq` (same sizes)."""
    from rnnlab.models import RNNConfig, build_model
    from rnnlab.tasks.spec import TaskSpec

    sizes = TRAIN_QUICK_SIZES if quick else TRAIN_SIZES
    B, V_src, V_tgt, E, H = (sizes[k] for k in ("B", "V_src", "V_tgt", "E", "H"))
    config = RNNConfig(cell="gru", hidden_size=H, embedding_size=E, bidirectional=True)
    ours = build_model(config, TaskSpec("seq2seq", V_src, V_tgt))
    sketch = SketchSeq2Seq(V_src, V_tgt, E, H)
    batch = _synthetic_pairs(B, V_src, V_tgt, torch.Generator().manual_seed(0))
    opt_ours = torch.optim.Adam(ours.parameters())
    opt_sketch = torch.optim.Adam(sketch.parameters())

    def loss_ours() -> Tensor:
        logits, _ = ours(batch)
        return F.cross_entropy(logits.flatten(0, 1), batch.y.flatten(), ignore_index=-100)

    step_ours = optimizer_steps(opt_ours, loss_ours)
    step_sketch = optimizer_steps(opt_sketch, lambda: sketch.loss(batch.x, batch.lengths, batch.y))

    num_s, den_s = compare(step_ours, step_sketch, repeats)
    timing = timing_config({**sizes, "min_length": MIN_LENGTH, "max_length": MAX_LENGTH}, repeats)
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
