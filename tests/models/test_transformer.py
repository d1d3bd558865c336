"""The transformer family: the key/value cache equals full recomputation for every
position scheme and for the encoder-decoder; decoding with and without the cache; the
cache past max_length; padding; the exact path's attention weights (self and cross); the
command line (train, sample, translate, diagnose attention)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from rnnlab._tree import select_rows
from rnnlab.attention import POSITIONS, attend
from rnnlab.cli import main
from rnnlab.decoding import beam_search, greedy
from rnnlab.models import (
    TransformerConfig,
    TransformerEncoder,
    TransformerLM,
    TransformerSeq2Seq,
    build_model,
)
from rnnlab.models.transformer_stack import KV, _grouped_attend
from rnnlab.tasks.base import IGNORE_INDEX, Batch
from rnnlab.tasks.seq2seq import collate
from rnnlab.tasks.spec import TaskSpec

V = 11
ATOL = dict(rtol=0.0, atol=1e-5)


def make_lm(positions: str, max_length: int = 64, **options: Any) -> TransformerLM:
    torch.manual_seed(0)
    config = TransformerConfig(
        num_layers=2, num_heads=2, hidden_size=16, positions=positions, max_length=max_length
    )
    config = TransformerConfig(**{**config.__dict__, **options})
    model = build_model(config, TaskSpec("lm", V, V))
    assert isinstance(model, TransformerLM)
    return model.eval()


@pytest.mark.parametrize("positions", POSITIONS)
def test_cached_incremental_logits_equal_full_recomputation(positions: str) -> None:
    """Prefill 13 tokens in one pass, then one token at a time: the logits at every
    position equal a full pass over the whole sequence (float32, eval mode)."""
    lm = make_lm(positions)
    x = torch.randint(V, (3, 29), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, _ = lm(Batch(x))
        prefix, state = lm(Batch(x[:, :13]))
        steps = []
        for t in range(13, 29):
            logits, state = lm.step(x[:, t], state)
            steps.append(logits)
    torch.testing.assert_close(prefix, full[:, :13], **ATOL)
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 13:], **ATOL)
    assert state.layers[0].keys.shape == (3, 2, 29, 8) and state.position.tolist() == [29] * 3


def recompute_step(lm: TransformerLM) -> Any:
    """A step function without a cache: its state is the whole prefix, read again at
    every step."""

    def step(token: torch.Tensor, prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prefix = torch.cat([prefix, token[:, None]], 1)
        logits, _ = lm(Batch(prefix))
        return logits[:, -1], prefix

    return step


@pytest.mark.parametrize("positions", ["rotary", "learned"])
def test_greedy_is_the_same_with_and_without_the_cache(positions: str) -> None:
    lm = make_lm(positions)
    start = torch.tensor([1, 4, 7])
    with torch.no_grad():
        cached = greedy(lm.step, lm.initial_state(3), start, 20)
        recomputed = greedy(recompute_step(lm), torch.zeros(3, 0, dtype=torch.long), start, 20)
        beam = beam_search(lm.step, lm.initial_state(3), start, 1, 20, None, length_penalty=0.0)
        wide = beam_search(lm.step, lm.initial_state(3), start, 4, 20, None, length_penalty=0.0)
    assert torch.equal(cached, recomputed)
    assert torch.equal(beam.tokens[:, 0], cached)
    assert bool((wide.log_probs[:, 0] >= beam.log_probs[:, 0] - 1e-5).all())


def test_the_cache_past_max_length() -> None:
    """Relative positions slide (the cache keeps max_length positions, positions go on);
    absolute ones start a stream afresh, and refuse to generate past the window."""
    x = torch.randint(V, (2, 6))
    rotary = make_lm("rotary", max_length=8)
    with torch.no_grad():
        _, state = rotary(Batch(x))
        _, state = rotary(Batch(x), state)  # 12 > 8: keeps the last 2 before the new 6
        assert state.layers[0].keys.shape[2] == 8 and int(state.position[0]) == 12
        for _ in range(3):
            _, state = rotary.step(x[:, 0], state)
        assert state.layers[0].keys.shape[2] == 8 and int(state.position[0]) == 15
    learned = make_lm("learned", max_length=8)
    with torch.no_grad():
        first, state = learned(Batch(x))
        again, state = learned(Batch(x), state)  # a fresh context at position 0
        torch.testing.assert_close(again, first)
        assert int(state.position[0]) == 6
        state = learned.step(x[:, 0], learned.step(x[:, 0], state)[1])[1]
        with pytest.raises(ValueError, match="cache is full at max_length=8"):
            learned.step(x[:, 0], state)
    with pytest.raises(ValueError, match="more than max_length=8"):
        rotary(Batch(torch.randint(V, (1, 9))))


def test_tied_weights_share_the_embedding() -> None:
    tied, untied = make_lm("rotary"), make_lm("rotary", tie_weights=False)
    assert untied.head.weight is not None and tied.head.weight is None
    n_tied = sum(p.numel() for p in tied.parameters())
    assert sum(p.numel() for p in untied.parameters()) == n_tied + V * 16
    x = torch.randint(V, (1, 5))
    h = tied.stack(tied.embedding(x))[0]
    torch.testing.assert_close(tied(Batch(x))[0], h @ tied.embedding.weight.T + tied.head.bias)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_encoder_padding_does_not_change_real_positions(pre_norm: bool) -> None:
    torch.manual_seed(0)
    config = TransformerConfig(num_layers=2, num_heads=2, hidden_size=8, pre_norm=pre_norm)
    tagger = TransformerEncoder(3, 4, config, per_step=True).eval()
    classifier = TransformerEncoder(3, 4, config, per_step=False).eval()
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([4, 6])
    garbage = x.clone()
    garbage[0, 4:] = 50.0
    for model in (tagger, classifier):
        out, _ = model(Batch(x, None, lengths))
        out2, _ = model(Batch(garbage, None, lengths))
        if model is tagger:
            torch.testing.assert_close(out2[0, :4], out[0, :4])
        else:
            torch.testing.assert_close(out2, out)
        unmasked, _ = model(Batch(garbage))
        assert not torch.allclose(unmasked[0], out[0])  # the mask is what keeps it out


def make_seq2seq() -> TransformerSeq2Seq:
    torch.manual_seed(0)
    config = TransformerConfig(num_layers=2, num_heads=2, hidden_size=16, positions="alibi")
    return TransformerSeq2Seq(13, 12, config).eval()


def test_encoder_decoder_cache_equals_full_recomputation() -> None:
    model = make_seq2seq()
    g = torch.Generator().manual_seed(3)
    sources = [torch.randint(4, 13, (n,), generator=g).tolist() for n in (5, 2, 7)]
    targets = [torch.randint(4, 12, (n,), generator=g).tolist() for n in (6, 6, 6)]
    batch = collate(sources, targets)
    with torch.no_grad():
        full, _ = model(batch)
        tokens, state = model.teacher_tokens(batch)
        steps = []
        for token in tokens.unbind(1):
            logits, state = model.step(token, state)
            steps.append(logits)
    real = batch.y != IGNORE_INDEX
    torch.testing.assert_close(torch.stack(steps, 1)[real], full[real], **ATOL)


def test_beam_rows_share_the_memory_or_gather_it() -> None:
    """Beams grouped by sentence read the memory without copying it; rows in any other
    order gather it: both give the logits of each row decoded alone."""
    model = make_seq2seq()
    src = torch.randint(4, 13, (2, 5))
    lengths = torch.tensor([5, 3])
    with torch.no_grad():
        state = model.encode(src, lengths)
        alone = [
            model.step(torch.tensor([1]), select_rows(state, torch.tensor([b])))[0] for b in (0, 1)
        ]
        grouped = model.step(
            torch.ones(6, dtype=torch.long), select_rows(state, torch.tensor([0, 0, 0, 1, 1, 1]))
        )[0]
        shuffled = model.step(
            torch.ones(3, dtype=torch.long), select_rows(state, torch.tensor([1, 0, 1]))
        )[0]
        out = beam_search(model.step, state, torch.ones(2, dtype=torch.long), 3, 6, 2)
    torch.testing.assert_close(grouped, torch.cat([alone[0]] * 3 + [alone[1]] * 3), **ATOL)
    torch.testing.assert_close(shuffled, torch.cat([alone[1], alone[0], alone[1]]), **ATOL)
    assert out.tokens.shape[:2] == (2, 3)


def test_cross_attention_weights_are_the_ones_used() -> None:
    """The exact path's cross-attention weights equal softmax(q k^T / sqrt(d)) recomputed
    from the decoder's normalised inputs and the encoder's outputs (padding: weight 0),
    and weights @ v gives what the fused path fed W^O in an ordinary forward pass."""
    model = make_seq2seq()
    g = torch.Generator().manual_seed(5)
    sources = [torch.randint(4, 13, (n,), generator=g).tolist() for n in (6, 2)]
    targets = [torch.randint(4, 12, (4,), generator=g).tolist() for _ in range(2)]
    batch = collate(sources, targets)  # lengths 7 and 3, targets of 5 (EOS included)
    seen: dict[str, list[Tensor]] = {"memory": [], "query": [], "merged": []}
    hooks = [model.encoder.register_forward_hook(lambda m, i, o: seen["memory"].append(o[0]))]
    for block in model.decoder.blocks:
        hooks.append(
            block.norm_cross.register_forward_hook(lambda m, i, o: seen["query"].append(o))
        )
        hooks.append(
            block.cross_attn.out_proj.register_forward_hook(
                lambda m, i, o: seen["merged"].append(i[0])
            )
        )
    with torch.no_grad():
        model(batch)  # the fused path
        for hook in hooks:
            hook.remove()
        weights = model.cross_attention_weights(batch.x, batch.lengths, batch.y)
    assert len(weights) == 2
    E, h, d = 16, 2, 8
    memory = seen["memory"][0]  # (B, S, E), the encoder's outputs
    real = torch.arange(7)[None, :] < batch.lengths[:, None]  # (B, S)
    for layer, block in enumerate(model.decoder.blocks):
        w, b = block.cross_attn.in_proj.weight, block.cross_attn.in_proj.bias

        def heads(x: Tensor) -> Tensor:
            return x.view(x.shape[0], x.shape[1], h, d).transpose(1, 2)

        q = heads(seen["query"][layer] @ w[:E].T + b[:E])
        k = heads(memory @ w[E : 2 * E].T + b[E : 2 * E])
        v = heads(memory @ w[2 * E :].T + b[2 * E :])
        scores = (q @ k.transpose(-2, -1)) / d**0.5
        expected = scores.masked_fill(~real[:, None, None, :], float("-inf")).softmax(-1)
        assert weights[layer].shape == (2, h, 5, 7)
        torch.testing.assert_close(weights[layer], expected, **ATOL)
        torch.testing.assert_close(weights[layer].sum(-1), torch.ones(2, h, 5))
        assert bool((weights[layer][1, :, :, 3:] == 0).all())  # the short source's padding
        merged = (weights[layer] @ v).transpose(1, 2).reshape(2, 5, E)
        torch.testing.assert_close(merged, seen["merged"][layer], **ATOL)


def test_grouped_cross_attention_weights_equal_gathered_ones() -> None:
    """Beams grouped by sentence read the memory in place: their weights (and outputs)
    are those of each row attending to its own copy of the memory."""
    g = torch.Generator().manual_seed(1)
    keys, values = torch.randn(2, 2, 5, 4, generator=g), torch.randn(2, 2, 5, 4, generator=g)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]
    q = torch.randn(6, 2, 3, 4, generator=g)  # 3 beams per sentence
    rows = torch.tensor([0, 0, 0, 1, 1, 1])
    out, w = _grouped_attend(q, KV(keys, values), mask, need_weights=True)
    ref_out, ref_w = attend(q, keys[rows], values[rows], mask[rows], need_weights=True)
    assert w is not None and ref_w is not None
    torch.testing.assert_close(w, ref_w, **ATOL)
    torch.testing.assert_close(out, ref_out, **ATOL)
    fused, none = _grouped_attend(q, KV(keys, values), mask)
    assert none is None
    torch.testing.assert_close(fused, ref_out, **ATOL)


def test_encoder_decoder_with_padding_under_bfloat16_autocast() -> None:
    """Padded targets under autocast: the logits of real positions come out (a float32
    buffer once refused the bfloat16 logits)."""
    model = make_seq2seq().train()
    batch = collate([[4, 5, 6], [7]], [[4, 5, 6, 7], [8]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = model(batch)
    real = batch.y != IGNORE_INDEX
    assert bool(torch.isfinite(logits[real].float()).all())
    assert bool((logits[~real] == 0).all())


def test_train_sample_and_translate_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat {i % 7} sat on the mat.\n" for i in range(200)))
    small = ["--model", "transformer", "--layers", "1", "--heads", "2", "--hidden", "16"]
    common = ["--steps", "3", "--eval-every", "3", "--batch-size", "4", "--quiet"]
    lm_run = str(tmp_path / "lm")
    argv = ["train", "charlm", "--data", str(corpus), "--T", "16", *small, *common]
    assert main([*argv, "--positions", "learned", "--max-length", "40", "--out", lm_run]) == 0
    config = json.loads((tmp_path / "lm" / "config.json").read_text())
    assert config["model"]["family"] == "transformer"
    assert config["model"]["positions"] == "learned" and config["model"]["num_heads"] == 2
    capsys.readouterr()
    assert main(["sample", lm_run, "--prompt", "the cat ", "--length", "30"]) == 0
    assert capsys.readouterr().out.startswith("the cat ")
    assert main(["sample", lm_run, "--prompt", "the cat ", "--length", "40"]) != 0
    assert "cache is full at max_length=40" in capsys.readouterr().err
    # scheduled sampling steps the model token by token, with gradients, through the cache
    # carried across batches (rotary: it slides past max_length = 40 at the third batch)
    ss = ["--scheduled-sampling", "linear", "--ss-k", "0.5", "--max-length", "40"]
    assert main([*argv, *ss, "--out", str(tmp_path / "ss")]) == 0
    s2s_run = str(tmp_path / "s2s")
    assert main(["train", "reverse", "--T", "4", *small, *common, "--out", s2s_run]) == 0
    capsys.readouterr()
    assert main(["translate", s2s_run, "a b c", "--beam", "2"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # one line (3 steps: maybe empty)
    # every cross-attention head of every decoder layer: JSON and figure
    diag = tmp_path / "diag"
    argv = ["diagnose", "attention", "--run", s2s_run, "--text", "a b c", "--out", str(diag)]
    assert main([*argv, "--beam", "2"]) == 0
    assert "a b c -> " in capsys.readouterr().out
    data = json.loads((diag / "cross_heads.json").read_text())
    assert data["source"] == ["a", "b", "c", "<eos>"] and data["text"] == "a b c"
    weights = torch.tensor(data["weights"])
    assert weights.shape == (1, 2, len(data["output"]), 4)  # 1 layer, 2 heads
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    assert (diag / "cross_heads.png").stat().st_size > 0


def test_preview_during_training_stays_within_an_absolute_context(tmp_path: Path) -> None:
    """A language model whose learned positions end at max_length samples at most that many
    positions in the preview (a relative scheme slides and gives the whole preview)."""
    import rnnlab
    from rnnlab.models.transformer import TransformerConfig

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat {i % 7} sat on the mat.\n" for i in range(200)))
    for positions, expected in (("learned", 40 - 1), ("rotary", 200)):
        config = rnnlab.RunConfig(
            "charlm",
            rnnlab.TaskOptions(data=str(corpus), T=16),
            TransformerConfig(
                num_layers=1, num_heads=2, hidden_size=16, positions=positions, max_length=40
            ),
            rnnlab.TrainConfig(steps=2, eval_every=2, batch_size=4),
        )
        rnnlab.train(config, tmp_path / positions, progress=False)
        kept = (tmp_path / positions / "samples.txt").read_text(encoding="utf-8")
        assert len(kept.split("\n", 1)[1]) == expected + 1  # the sample and its newline


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_what_the_first_block_reads(positions: str) -> None:
    """Token embeddings plus the position table; with sinusoids the embeddings are scaled
    by sqrt(E) first (Vaswani et al. 2017), with a learned table they are not."""
    from rnnlab.attention.positions import sinusoidal_table

    lm = make_lm(positions)
    seen: list[torch.Tensor] = []
    lm.stack.blocks[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    x = torch.randint(V, (2, 5))
    with torch.no_grad():
        _, state = lm(Batch(x[:, :3]))
        lm(Batch(x[:, 3:]), state)  # positions 3, 4
    e = lm.embedding(x)
    if positions == "sinusoidal":
        expected = 16**0.5 * e + sinusoidal_table(torch.arange(5), 16)
    else:
        expected = e + lm.stack.embed_positions.table.weight[:5]  # type: ignore[union-attr]
    torch.testing.assert_close(torch.cat(seen, 1), expected)


def test_diagnose_attention_draws_every_head(tmp_path: Path) -> None:
    """Each map is a causal distribution per query: rows sum to 1, nothing above the
    diagonal; the maps are the exact path's weights of the model itself."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat {i % 7} sat.\n" for i in range(100)))
    run_dir = str(tmp_path / "lm")
    argv = ["train", "charlm", "--data", str(corpus), "--T", "8", "--model", "transformer"]
    small = ["--layers", "2", "--heads", "2", "--hidden", "8", "--steps", "2", "--quiet"]
    assert main([*argv, *small, "--eval-every", "2", "--out", run_dir]) == 0
    diag = tmp_path / "diag"
    text = "the cat"
    assert (
        main(["diagnose", "attention", "--run", run_dir, "--text", text, "--out", str(diag)]) == 0
    )
    data = json.loads((diag / "heads.json").read_text())
    weights = torch.tensor(data["weights"])
    assert weights.shape == (2, 2, 7, 7) and data["tokens"] == list(text)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 7))
    assert bool((weights.triu(1) == 0).all())
    assert (diag / "heads.png").stat().st_size > 0


@pytest.mark.parametrize("positions", ["rotary", "alibi"])
def test_a_float32_cache_carried_under_bfloat16_autocast(positions: str) -> None:
    """The trainer carries the cache in float32; the next batch runs under autocast."""
    lm = make_lm(positions).train()
    x = torch.randint(V, (2, 6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, state = lm(Batch(x))
        state = state._replace(
            layers=tuple(type(kv)(kv.keys.float(), kv.values.float()) for kv in state.layers)
        )
        logits, _ = lm(Batch(x), state)
    assert bool(torch.isfinite(logits).all())
