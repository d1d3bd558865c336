"""TokenVocab, tokenisers, the seq2seq batch layout and the codec round trip."""

from __future__ import annotations

import json

import pytest
import torch

from rnnlab.tasks.base import IGNORE_INDEX
from rnnlab.tasks.seq2seq import Seq2SeqCodec, collate, collate_sources, target_ids, trim
from rnnlab.tasks.tokens import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    CharTokenizer,
    TokenVocab,
    WhitespaceTokenizer,
    tokenizer_from_json,
)


def test_specials_take_the_first_ids() -> None:
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    vocab = TokenVocab(["x"])
    assert len(vocab) == 5
    assert vocab.encode(list(SPECIALS)) == [0, 1, 2, 3]
    assert vocab.token_id("x") == 4


def test_build_orders_by_frequency_then_token() -> None:
    sentences = [["b", "a", "c"], ["c", "a"], ["a", "d", "d"]]
    vocab = TokenVocab.build(sentences)
    # a:3, c:2, d:2, b:1 -> ties broken by the token
    assert vocab.tokens == ["a", "c", "d", "b"]
    assert TokenVocab.build(sentences, min_freq=2).tokens == ["a", "c", "d"]
    assert TokenVocab.build(sentences, max_size=2).tokens == ["a", "c"]
    # the same counts in another order give the same vocabulary
    assert TokenVocab.build(reversed(sentences)) == vocab


def test_encode_decode() -> None:
    vocab = TokenVocab(["a", "b"])
    assert vocab.encode(["a", "zzz", "b"]) == [4, UNK, 5]
    assert vocab.decode([BOS, 4, PAD, 5, UNK, EOS, 4]) == ["a", "b", "<unk>"]
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([9])


@pytest.mark.parametrize("bad", [["a", "a"], ["<eos>"], [""]])
def test_bad_vocab_entries(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="vocabulary token"):
        TokenVocab(bad)


def test_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="min_freq"):
        TokenVocab.build([["a"]], min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        TokenVocab.build([["a"]], max_size=-1)


def test_json_round_trip() -> None:
    vocab = TokenVocab.build([["é", "b", "b"]])
    data = json.loads(json.dumps(vocab.to_json()))
    assert TokenVocab.from_json(data) == vocab
    with pytest.raises(ValueError, match="not a token vocabulary"):
        TokenVocab.from_json({"type": "char", "chars": []})


def test_tokenizers() -> None:
    assert WhitespaceTokenizer().tokenize(" a  b\tc ") == ["a", "b", "c"]
    assert WhitespaceTokenizer().detokenize(["a", "b"]) == "a b"
    assert CharTokenizer().tokenize("a b") == ["a", " ", "b"]
    assert CharTokenizer().detokenize(["a", " ", "b"]) == "a b"
    for tok in (WhitespaceTokenizer(), CharTokenizer()):
        assert tokenizer_from_json(tok.to_json()) == tok
    with pytest.raises(ValueError, match="unknown tokenizer type"):
        tokenizer_from_json({"type": "nope"})


def test_collate_layout() -> None:
    batch = collate([[4, 5, 6], [7]], [[8], [9, 10, 11]])
    assert batch.x.tolist() == [[4, 5, 6, EOS], [7, EOS, PAD, PAD]]
    assert batch.lengths is not None and batch.lengths.tolist() == [4, 2]
    assert batch.y.tolist() == [[8, EOS, IGNORE_INDEX, IGNORE_INDEX], [9, 10, 11, EOS]]
    assert target_ids(batch.y) == [[8], [9, 10, 11]]
    # an empty source or target is just EOS
    empty = collate([[]], [[]])
    assert empty.x.tolist() == [[EOS]] and empty.y.tolist() == [[EOS]]
    x, lengths = collate_sources([[4], [4, 5]])
    assert x.tolist() == [[4, EOS, PAD], [4, 5, EOS]] and lengths.tolist() == [2, 3]
    with pytest.raises(ValueError, match="expected pairs"):
        collate([[4]], [])
    with pytest.raises(ValueError, match="empty list"):
        collate_sources([])


def test_trim() -> None:
    assert trim([4, 5, EOS, 6]) == [4, 5]
    assert trim(torch.tensor([4, 5])) == [4, 5]


def test_codec_round_trip() -> None:
    codec = Seq2SeqCodec(
        TokenVocab(["a", "b"]), TokenVocab(list("xy ")), WhitespaceTokenizer(), CharTokenizer(), 9
    )
    restored = Seq2SeqCodec.from_json(json.loads(json.dumps(codec.to_json())))
    assert restored == codec
    assert codec.encode_source("a b q") == [4, 5, UNK]
    ids = codec.tgt_vocab.encode(list("x y"))
    assert codec.decode_target([*ids, EOS, 4]) == "x y"
    with pytest.raises(ValueError, match="not a seq2seq codec"):
        Seq2SeqCodec.from_json({"src_vocab": TokenVocab([]).to_json()})


def test_bucketed_batches() -> None:
    from rnnlab.tasks.seq2seq import bucketed_batches

    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 40, (1000,), generator=g).tolist()
    batches = bucketed_batches(lengths, 32, torch.Generator().manual_seed(1), pool=10)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))  # every row once
    assert all(len(b) <= 32 for b in batches)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 5  # random batches of 32 spread over ~35 lengths
    again = bucketed_batches(lengths, 32, torch.Generator().manual_seed(1), pool=10)
    assert again == batches
    with pytest.raises(ValueError, match="batch_size"):
        bucketed_batches(lengths, 0, g)
