"""decode_sources: length-sorted chunks give the same outputs as one sentence at a time."""

from __future__ import annotations

import pytest
import torch

from rnnlab.decoding import beam_search, decode_sources, greedy
from rnnlab.models import RNNConfig, build_model
from rnnlab.tasks.seq2seq import collate_sources
from rnnlab.tasks.spec import TaskSpec
from rnnlab.tasks.tokens import BOS, EOS


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    config = RNNConfig(cell="gru", hidden_size=8, embedding_size=6, bidirectional=True)
    return build_model(config, TaskSpec("seq2seq", 12, 9)).double().eval()


def _sources() -> list[list[int]]:
    g = torch.Generator().manual_seed(2)
    return [torch.randint(4, 12, (int(n),), generator=g).tolist() for n in (5, 1, 7, 3, 0, 6)]


@pytest.mark.parametrize("beam", [1, 3])
def test_chunks_equal_one_at_a_time(beam: int) -> None:
    model = _model()
    sources = _sources()
    x, lengths = collate_sources(sources)
    out = decode_sources(model, x, lengths, 6, beam_size=beam, batch_size=4, attention=True)
    assert out.attention is not None
    for i, src in enumerate(sources):
        xi, li = collate_sources([src])
        state = model.encode(xi, li)
        start = torch.full((1,), BOS)
        if beam == 1:
            row = greedy(model.step, state, start, 6, eos=EOS)[0].tolist()
        else:
            row = beam_search(model.step, state, start, beam, 6, EOS).tokens[0, 0].tolist()
        expected = row[: row.index(EOS)] if EOS in row else row
        assert out.tokens[i] == expected
        # one row of weights per output token (EOS included), over the real positions
        weights = out.attention[i]
        assert weights.shape == (min(len(expected) + 1, 6), len(src) + 1)
        torch.testing.assert_close(
            weights.sum(-1), torch.ones(weights.shape[0], dtype=weights.dtype)
        )


def test_bad_arguments() -> None:
    model = _model()
    x, lengths = collate_sources(_sources())
    with pytest.raises(ValueError, match="beam_size"):
        decode_sources(model, x, lengths, 5, beam_size=0)
    with pytest.raises(ValueError, match="max_length"):
        decode_sources(model, x, lengths, 0)
