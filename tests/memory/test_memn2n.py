"""MemN2N against the paper's equations written out per sentence and per word (weights
copied from the model), and the behaviour each option switches on: position encoding (the
official code's and the paper's printed formula), temporal encoding, tying, linear start,
random noise, the empty slots, the nil word, padding."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

import rnnlab
from rnnlab import RunConfig, TrainConfig
from rnnlab.memory.memn2n import MemN2N, MemN2NConfig, position_encoding
from rnnlab.models.registry import config_from_json, config_to_json
from rnnlab.tasks.babi import ANSWER_OFFSET, BabiBatch
from rnnlab.tasks.registry import TaskOptions

V, A, D = 12, 3, 6  # words (0 nil, 1 unk, 2..4 the answers), answers, width
F64 = torch.float64


def make_batch(seed: int = 0) -> BabiBatch:
    """Three stories of 4, 2 and 1 statements of ragged word counts."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([4, 2, 1])
    story = torch.zeros(3, 4, 5, dtype=torch.long)
    for b, n in enumerate(lengths.tolist()):
        for i in range(n):
            words = int(torch.randint(1, 6, (), generator=g))
            story[b, i, :words] = torch.randint(1, V, (words,), generator=g)
    query = torch.zeros(3, 5, dtype=torch.long)
    query[:, :3] = torch.randint(1, V, (3, 3), generator=g)
    query[0, 3] = 5
    y = torch.tensor([0, 2, 1])
    support = torch.zeros(3, 4, dtype=torch.bool)
    return BabiBatch(story, query, y, lengths, support, torch.ones(3, dtype=torch.long))


def reference(model: MemN2N, batch: BabiBatch, b: int) -> Tensor:
    """The logits of row ``b``, sentence by sentence and word by word (Sukhbaatar et al.
    2015, sections 2 and 4.1), from the model's weights."""
    d, K = model.d, model.hops
    E = [e.weight for e in model.embeddings]  # type: ignore[union-attr]
    T = list(model.times) if model.temporal else None

    def encode(emb: Tensor, ids: list[int]) -> Tensor:
        J, out = len(ids), torch.zeros(d, dtype=F64)
        for j, w in enumerate(ids, 1):
            if model.encoding == "position":  # the paper's printed formula
                l = torch.tensor([(1 - j / J) - (k / d) * (1 - 2 * j / J) for k in range(1, d + 1)])
            elif model.encoding == "position-code":  # the official code's (config.weight)
                l = torch.tensor(
                    [
                        1 + 4 * (k - (d + 1) / 2) * (j - (J + 1) / 2) / (d * J)
                        for k in range(1, d + 1)
                    ]
                )
            else:
                l = torch.ones(d)
            out = out + l.to(F64) * emb[w]
        return out

    n = int(batch.lengths[b])
    sentences = [[int(w) for w in batch.story[b, i] if w] for i in range(n)]
    adjacent = model.tying == "adjacent"
    u = encode(E[0] if adjacent else E[2], [int(w) for w in batch.query[b] if w])
    for k in range(K):
        A_, C_ = (E[k], E[k + 1]) if adjacent else (E[0], E[1])
        m = [encode(A_, s) for s in sentences]
        c = [encode(C_, s) for s in sentences]
        if T is not None:
            TA, TC = (T[k], T[k + 1]) if adjacent else (T[0], T[1])
            m = [m[i] + TA[n - 1 - i] for i in range(n)]  # time 0: the most recent
            c = [c[i] + TC[n - 1 - i] for i in range(n)]
        scores = torch.stack([u @ mi for mi in m])
        if not bool(model.softmax_on):
            p = scores
        elif model.empty_slots:  # the memory's M - n empty slots: all-nil, m = 0, score 0
            empty = torch.zeros(model.memory_size - n, dtype=F64)
            p = torch.softmax(torch.cat([scores, empty]), 0)[:n]
        else:
            p = torch.softmax(scores, 0)
        o = sum(p[i] * c[i] for i in range(n))
        u = (u if adjacent else model.H.weight @ u) + o
    if adjacent:
        return torch.stack([E[K][ANSWER_OFFSET + a] @ u for a in range(model.answers)])
    return model.W.weight @ u


@pytest.mark.parametrize(
    "options",
    [
        dict(),  # adjacent, position encoding (the code's), temporal
        dict(encoding="position"),  # the paper's printed formula
        dict(empty_slots=True, memory_size=6),
        dict(empty_slots=True, linear_start=True),
        dict(encoding="bow", temporal=False),
        dict(tying="layerwise", encoding="bow"),
        dict(tying="layerwise", hops=1),
        dict(linear_start=True, hops=2),
    ],
    ids=[
        "adjacent-pe-te",
        "paper-pe",
        "empty-slots",
        "empty-slots-linear-start",
        "adjacent-bow",
        "layerwise-bow-te",
        "layerwise-1hop",
        "linear-start",
    ],
)
def test_outputs_follow_the_equations(options: dict[str, object]) -> None:
    torch.manual_seed(0)
    options = {"memory_size": 4, **options}
    model = MemN2N(V, A, hidden_size=D, **options).to(F64).eval()  # type: ignore[arg-type]
    batch = make_batch()
    logits, state = model(batch)
    assert logits.shape == (3, A) and state is None
    for b in range(3):
        torch.testing.assert_close(logits[b], reference(model, batch, b))


def test_position_encoding_by_hand() -> None:
    # the paper's, J = 2, d = 2: word 1 -> (1 - 1/2) - (k/2)(1 - 1) = 0.5; word 2 -> k/2
    l = position_encoding(torch.tensor([[7, 9, 0]]), 2, "paper")
    torch.testing.assert_close(l[0, :2], torch.tensor([[0.5, 0.5], [0.5, 1.0]]))
    # the code's: 1 + 4 (k - 3/2)(j - 3/2) / 4 -> word 1: 1.25, 0.75; word 2: 0.75, 1.25
    l = position_encoding(torch.tensor([[7, 9, 0]]), 2)
    torch.testing.assert_close(l[0, :2], torch.tensor([[1.25, 0.75], [0.75, 1.25]]))
    with pytest.raises(ValueError, match="unknown position formula"):
        position_encoding(torch.tensor([[7]]), 2, "other")


@pytest.mark.parametrize("d", [1, 6, 20])
def test_the_code_formula_is_twice_the_papers(d: int) -> None:
    # expanding both: code = 2 paper + (d + J + 1 - 2k - 2j) / (dJ), so the paper's printed
    # weights are half the code's (mean 1/2 + 1/(2dJ) against 1): the sentence vectors start at half
    # the scale under the same N(0, 0.1) init
    tokens = torch.tensor([[3] * J + [0] * (7 - J) for J in range(1, 8)])  # J = 1..7
    code = position_encoding(tokens, d, "code").double()
    paper = position_encoding(tokens, d, "paper").double()
    J = torch.arange(1, 8, dtype=F64).view(7, 1, 1)
    j = torch.arange(1, 8, dtype=F64).view(1, 7, 1)
    k = torch.arange(1, d + 1, dtype=F64).view(1, 1, d)
    real = (j <= J).expand_as(code)
    expected = 2 * paper + (d + J + 1 - 2 * k - 2 * j) / (d * J)
    torch.testing.assert_close(code[real], expected[real], rtol=1e-5, atol=1e-6)
    for n in range(1, 8):
        assert float(code[n - 1, :n].mean()) == pytest.approx(1.0, abs=1e-6)
        half = 0.5 + 1 / (2 * d * n)  # the paper's mean over k and j
        assert float(paper[n - 1, :n].mean()) == pytest.approx(half, abs=1e-6)


def test_rows_are_independent_of_each_other_and_of_padding() -> None:
    torch.manual_seed(0)
    model = MemN2N(V, A, hidden_size=D, memory_size=8).to(F64).eval()
    batch = make_batch()
    out, _ = model(batch)
    padded = batch._replace(
        story=torch.nn.functional.pad(batch.story, (0, 3, 0, 2)),
        query=torch.nn.functional.pad(batch.query, (0, 2)),
        support=torch.nn.functional.pad(batch.support, (0, 2)),
    )
    torch.testing.assert_close(model(padded)[0], out)
    for b in range(3):
        torch.testing.assert_close(model(batch.rows(slice(b, b + 1)))[0][0], out[b])


def test_the_nil_word_stays_zero_and_a_wrong_batch_is_one_line() -> None:
    torch.manual_seed(0)
    model = MemN2N(V, A, hidden_size=D, memory_size=4, random_noise=0.1)
    assert all(float(e.weight[0].detach().abs().max()) == 0 for e in model.embeddings)  # type: ignore[union-attr]
    assert 0.07 < float(model.embeddings[1].weight[1:].detach().std()) < 0.13  # type: ignore[union-attr]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batch = make_batch()
    torch.nn.functional.cross_entropy(model(batch)[0], batch.y).backward()
    optimizer.step()
    assert all(float(e.weight[0].detach().abs().max()) == 0 for e in model.embeddings)  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="memn2n reads batches with story, query"):
        model(rnnlab.tasks.Batch(torch.zeros(2, 3, 4)))
    with pytest.raises(ValueError, match="exceed memory_size 2"):
        MemN2N(V, A, memory_size=2)(batch)
    with pytest.raises(ValueError, match="adjacent tying reads the answers as words"):
        MemN2N(4, 3)


def test_empty_slots_take_their_share_and_rows_stay_independent_of_padding() -> None:
    torch.manual_seed(0)
    model = MemN2N(V, A, hidden_size=D, memory_size=7, empty_slots=True).to(F64).eval()
    batch = make_batch()
    p = model.hop_attention(batch)
    for weights in p:  # the share of the 7 - n empty slots: 1 - sum_i p_i
        assert bool((weights.sum(1) < 1).all())
        assert float(weights[1, 2:].detach().abs().max()) == 0  # past the story's statements
    full = MemN2N(V, A, hidden_size=D, memory_size=4, empty_slots=True).to(F64).eval()
    full.load_state_dict(
        {k: v[:4] if k.startswith("times") else v for k, v in model.state_dict().items()}
    )
    torch.testing.assert_close(full.hop_attention(batch)[0][0].sum(), torch.tensor(1.0, dtype=F64))
    out, _ = model(batch)
    padded = batch._replace(
        story=torch.nn.functional.pad(batch.story, (0, 2, 0, 2)),
        support=torch.nn.functional.pad(batch.support, (0, 2)),
    )
    torch.testing.assert_close(model(padded)[0], out)


def test_random_noise_spreads_time_indices_in_training_only() -> None:
    model = MemN2N(V, A, hidden_size=D, memory_size=60, random_noise=0.1)
    lengths = torch.tensor([40, 20, 1])
    plain = (lengths.unsqueeze(1) - 1 - torch.arange(40)).clamp(min=0)
    torch.manual_seed(0)
    noisy = [model.time_indices(lengths, 40) for _ in range(20)]
    assert any(not torch.equal(t, plain) for t in noisy)
    for t in noisy:
        for b, n in enumerate(lengths.tolist()):
            real = t[b, :n]
            assert bool((real[:-1] > real[1:]).all()), "the order of the story is kept"
            assert int(real.min()) >= 0 and int(real.max()) <= n - 1 + math.ceil(0.1 * n)
    blank = [int(t[0, 0]) - 39 for t in noisy]  # empty slots inserted in the first story
    assert max(blank) > 0 and min(blank) >= 0
    model.eval()
    assert torch.equal(model.time_indices(lengths, 40), plain)


def test_linear_start_ends_when_the_val_loss_stops_falling() -> None:
    torch.manual_seed(0)
    model = MemN2N(V, A, hidden_size=D, memory_size=4, linear_start=True).eval()
    batch = make_batch()
    raw = model.hop_attention(batch)[0]
    assert not torch.allclose(raw[0].sum(), torch.tensor(1.0))  # no softmax yet
    model.on_validation({"loss": 2.0})
    model.on_validation({"loss": 1.5})
    assert not bool(model.softmax_on)
    model.on_validation({"loss": 1.6})  # stopped falling
    assert bool(model.softmax_on)
    p = model.hop_attention(batch)[0]
    torch.testing.assert_close(p.sum(1), torch.ones(3))
    assert float(p[1, 2:].detach().abs().max()) == 0  # past the story's statements
    fresh = MemN2N(V, A, hidden_size=D, memory_size=4, linear_start=True)
    fresh.load_state_dict(model.state_dict())  # the switch travels with the weights
    assert bool(fresh.softmax_on)
    fixed = MemN2N(V, A, hidden_size=D, memory_size=4, linear_start=True, linear_start_evals=3)
    for loss in (2.0, 2.5):  # a rise does not end a fixed linear start
        fixed.on_validation({"loss": loss})
    assert not bool(fixed.softmax_on)
    fixed.on_validation({"loss": 1.0})
    assert bool(fixed.softmax_on)


def test_config_round_trips_through_json() -> None:
    config = MemN2NConfig(hops=2, tying="layerwise", encoding="bow", linear_start=False)
    assert config_from_json(json.loads(json.dumps(config_to_json(config)))) == config


def test_a_run_trains_loads_and_evaluates(tmp_path: Path) -> None:
    lines = []
    for k in range(60):
        a, b = ("kitchen", "garden", "office")[k % 3], ("hall", "bedroom")[k % 2]
        lines += [
            f"1 Mary went to the {a}.",
            f"2 John went to the {b}.",
            f"3 Where is Mary? \t{a}\t1",
        ]
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "test"):
        (data / f"qa1_toy_{split}.txt").write_text("\n".join(lines) + "\n")
    config = RunConfig(
        "babi",
        TaskOptions(data=str(data)),
        MemN2NConfig(hidden_size=8, hops=2, linear_start=True),
        TrainConfig(steps=20, batch_size=8, eval_every=4, lr=0.05, optimizer="sgd", momentum=0.0),
    )
    summary = rnnlab.train(config, tmp_path / "run", progress=False)
    assert summary["model"] == "memn2n" and "linear_start_done" in summary
    run = rnnlab.load(tmp_path / "run")
    assert isinstance(run.model, MemN2N)
    test = run.task().split("test")
    out, _ = run.model(test)
    accuracy = float((out.argmax(-1) == test.y).float().mean())
    assert accuracy == pytest.approx(summary["metrics"]["test"]["accuracy"])
