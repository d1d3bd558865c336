"""EncoderDecoder: teacher forcing == step by step, masking, decoding over the one-step
protocol (greedy, beam search with attention maps), the bridge for any cell."""

from __future__ import annotations

import pytest
import torch

from rnnlab.decoding import beam_search, greedy
from rnnlab.models import RNNConfig, build_model
from rnnlab.models.seq2seq import BOS as MODEL_BOS
from rnnlab.models.seq2seq import IGNORE_INDEX as MODEL_IGNORE
from rnnlab.models.seq2seq import PAD as MODEL_PAD
from rnnlab.models.seq2seq import EncoderDecoder, Seq2SeqState
from rnnlab.tasks.base import IGNORE_INDEX
from rnnlab.tasks.seq2seq import collate
from rnnlab.tasks.spec import TaskSpec
from rnnlab.tasks.tokens import BOS, EOS, PAD

V_SRC, V_TGT = 11, 9


def _model(
    attention: str = "additive",
    cell: str = "gru",
    input_feeding: bool = True,
    bidirectional: bool = True,
    dtype: torch.dtype = torch.float64,
) -> EncoderDecoder:
    torch.manual_seed(0)
    config = RNNConfig(
        cell=cell,
        hidden_size=6,
        embedding_size=5,
        bidirectional=bidirectional,
        attention=attention,
        input_feeding=input_feeding,
    )
    model = build_model(config, TaskSpec("seq2seq", V_SRC, V_TGT))
    assert isinstance(model, EncoderDecoder)
    return model.to(dtype).eval()


def _batch():  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(1)
    sources = [torch.randint(4, V_SRC, (n,), generator=g).tolist() for n in (5, 2, 7)]
    targets = [torch.randint(4, V_TGT, (n,), generator=g).tolist() for n in (3, 6, 1)]
    return collate(sources, targets)


def test_token_conventions_agree_with_tasks() -> None:
    assert (MODEL_PAD, MODEL_BOS, MODEL_IGNORE) == (PAD, BOS, IGNORE_INDEX)


CASES = [
    (attention, feeding)
    for attention in ("none", "additive", "dot", "general")
    for feeding in (True, False)
]


@pytest.mark.parametrize(("attention", "feeding"), CASES)
def test_teacher_forcing_equals_stepping(attention: str, feeding: bool) -> None:
    model = _model(attention, input_feeding=feeding, bidirectional=attention != "dot")
    batch = _batch()
    logits = model(batch)[0]  # (B, T, V)
    assert logits.shape == (3, batch.y.shape[1], V_TGT)
    state = model.encode(batch.x, batch.lengths)
    inputs = model.decoder_inputs(batch.y)
    for t in range(batch.y.shape[1]):
        step_logits, state = model.step(inputs[:, t], state)
        real = batch.y[:, t] != IGNORE_INDEX  # padded positions are not computed (zeros)
        torch.testing.assert_close(step_logits[real], logits[real, t])
        assert bool((logits[~real, t] == 0).all())
        torch.testing.assert_close(state.attention.sum(-1), torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("attention", ["none", "additive", "general"])
def test_padding_content_does_not_change_outputs(attention: str) -> None:
    model = _model(attention)
    batch = _batch()
    assert batch.lengths is not None
    noisy = batch.x.clone()
    pad = torch.arange(noisy.shape[1]).unsqueeze(0) >= batch.lengths.unsqueeze(1)
    noisy[pad] = torch.randint(4, V_SRC, (int(pad.sum()),))
    torch.testing.assert_close(model(batch)[0], model.teacher_forced(noisy, batch.lengths, batch.y))
    state = model.encode(batch.x, batch.lengths)
    _, state = model.step(torch.full((3,), BOS), state)
    if attention != "none":
        assert bool((state.attention[pad] == 0).all())


def test_rows_are_independent() -> None:
    model = _model()
    batch = _batch()
    whole = model(batch)[0]
    assert batch.lengths is not None
    for b in range(3):
        L = int(batch.lengths[b])
        one = model.teacher_forced(
            batch.x[b : b + 1, :L], batch.lengths[b : b + 1], batch.y[b : b + 1]
        )
        torch.testing.assert_close(one, whole[b : b + 1])


@pytest.mark.parametrize("cell", ["lstm", "elman", "mi_gru", "ln_lstm", "clockwork"])
def test_any_cell_decodes(cell: str) -> None:
    model = _model(cell=cell)
    batch = _batch()
    logits = model(batch)[0]
    state = model.encode(batch.x, batch.lengths)
    # the bridge initialises every real state matrix from the encoder (not zeros)
    assert all(float(t.detach().abs().sum()) > 0 for t in state.cell if t.is_floating_point())
    inputs = model.decoder_inputs(batch.y)
    for t in range(batch.y.shape[1]):
        step_logits, state = model.step(inputs[:, t], state)
        real = batch.y[:, t] != IGNORE_INDEX
        torch.testing.assert_close(step_logits[real], logits[real, t])


def test_decoding_protocol_greedy_and_beam_with_attention() -> None:
    model = _model()
    batch = _batch()
    state = model.encode(batch.x, batch.lengths)
    assert isinstance(state, Seq2SeqState)
    start = torch.full((3,), BOS)
    tokens = greedy(model.step, state, start, 8, eos=EOS)
    out = beam_search(model.step, state, start, 3, 8, EOS, record=lambda s: s.attention)
    assert out.extras is not None
    L = out.tokens.shape[2]
    assert out.extras.shape == (3, 3, L, batch.x.shape[1])
    # each recorded step of a real hypothesis is a distribution over the real positions
    assert batch.lengths is not None
    for b in range(3):
        n = int(out.lengths[b, 0])
        rows = out.extras[b, 0, :n]
        torch.testing.assert_close(rows.sum(-1), torch.ones(n, dtype=torch.float64))
        assert float(rows[:, int(batch.lengths[b]) :].detach().abs().sum()) == 0
    # beam 1 is greedy decoding
    one = beam_search(model.step, state, start, 1, 8, EOS, length_penalty=0.0)
    for b in range(3):
        n = int(one.lengths[b, 0])
        assert one.tokens[b, 0, :n].tolist() == tokens[b, :n].tolist()


def test_training_backward_reaches_every_parameter() -> None:
    model = _model(dtype=torch.float32).train()
    batch = _batch()
    logits = model(batch)[0]
    loss = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch.y.flatten(), ignore_index=IGNORE_INDEX
    )
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert missing == []


def test_errors() -> None:
    with pytest.raises(ValueError, match="dot attention needs encoder outputs"):
        _model("dot", bidirectional=True)
    with pytest.raises(ValueError, match="unknown attention"):
        RNNConfig(attention="luong")
    model = _model()
    batch = _batch()
    with pytest.raises(ValueError, match="source ids must lie"):
        model.encode(batch.x + 100, batch.lengths)
    with pytest.raises(ValueError, match="token ids of shape"):
        model.encode(batch.x.float(), batch.lengths)
    with pytest.raises(ValueError, match="one target per source"):
        model.teacher_forced(batch.x, batch.lengths, batch.y[:2])


def test_selected_rows_share_the_memory_and_decode_the_same() -> None:
    from rnnlab.cells.base import select_rows

    model = _model()
    batch = _batch()
    state = model.encode(batch.x, batch.lengths)
    start = torch.full((3,), BOS)
    _, after = model.step(start, state)
    # beam-style expansion (grouped rows) and an arbitrary order (gathered rows)
    for index in (torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([2, 0, 1, 0])):
        picked = select_rows(after, index)
        assert picked.memory is after.memory  # shared, not copied
        assert picked.source.tolist() == index.tolist()
        tokens = torch.arange(4, 4 + len(index)) % V_TGT
        got, got_state = model.step(tokens, picked)
        for r, b in enumerate(index.tolist()):
            one = select_rows(after, torch.tensor([b]))
            one = one._replace(
                memory=after.memory[b : b + 1],
                keys=after.keys[b : b + 1],
                mask=after.mask[b : b + 1],
                source=torch.zeros(1, dtype=torch.long),
            )
            expected, expected_state = model.step(tokens[r : r + 1], one)
            torch.testing.assert_close(got[r : r + 1], expected)
            torch.testing.assert_close(got_state.attention[r : r + 1], expected_state.attention)
