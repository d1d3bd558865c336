from __future__ import annotations

import hashlib
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rnnlab.tasks import TaskOptions, build_task
from rnnlab.tasks import corpora as corpora_module
from rnnlab.tasks.base import Batch
from rnnlab.tasks.charlm import EVAL_STREAMS, CharLMTask, stream_batch, unigram_entropy_bits
from rnnlab.tasks.corpora import (
    TINYSHAKESPEARE_CACHE,
    python_stdlib_corpus,
    read_text_file,
    tinyshakespeare,
)
from rnnlab.tasks.vocab import UNK_CHAR, CharVocab
from rnnlab.training.resolve import resolve_config

SHAKESPEARE_CHARS = 1_115_394


def one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.fixture
def shakespeare_file(shared_data: Path) -> Path:
    """The shared Tiny Shakespeare file (read-only); skips when absent."""
    path = shared_data / "tinyshakespeare.txt"
    if not path.is_file():
        pytest.skip(f"shared Tiny Shakespeare not found at {path}")
    return path


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    """A 6000-character pseudo-random text (so positions are identifiable by context)."""
    rng = random.Random(0)
    text = "".join(rng.choice("abcdefghij klmnop\n") for _ in range(6000))
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    return path


# -- vocabulary -----------------------------------------------------------------------------
def test_vocab_round_trip_and_unknown_characters() -> None:
    vocab = CharVocab.from_text("hello, wörld")
    assert vocab.chars == sorted(set("hello, wörld")) and vocab.unk == len(vocab.chars)
    assert len(vocab) == len(vocab.chars) + 1
    ids = vocab.encode("hello, wörld")
    assert ids.dtype == torch.long and ids.shape == (12,)
    assert vocab.decode(ids) == "hello, wörld" and vocab.decode(ids.tolist()) == "hello, wörld"
    unseen = vocab.encode("hex€🙂")
    assert unseen.tolist()[:2] == vocab.encode("he").tolist()
    assert unseen.tolist()[2:] == [vocab.unk] * 3
    assert vocab.decode(unseen) == "he" + UNK_CHAR * 3
    assert vocab.encode("").shape == (0,)
    again = CharVocab.from_json(vocab.to_json())
    assert again == vocab and again.unk == vocab.unk
    assert torch.equal(again.encode("world!"), vocab.encode("world!"))
    with pytest.raises(ValueError, match="id 99 out of range") as e:
        vocab.decode([99])
    one_line(e)
    with pytest.raises(ValueError, match="not a character vocabulary"):
        CharVocab.from_json({"tokens": []})


# -- corpora --------------------------------------------------------------------------------
def test_stdlib_corpus_is_fixed_and_described() -> None:
    text, meta = python_stdlib_corpus()
    again, meta2 = python_stdlib_corpus()
    assert text == again and meta == meta2
    assert set(meta) >= {"python_version", "sha256", "files", "chars"}
    assert meta["chars"] == len(text) and meta["files"] > 10
    assert meta["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert 1_000_000 <= len(text) <= corpora_module.STDLIB_MAX_CHARS
    short, meta3 = python_stdlib_corpus(max_chars=1000)
    assert short == text[:1000] and meta3["files"] == 1


def test_read_text_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found") as e:
        read_text_file(tmp_path / "missing.txt")
    assert "missing.txt" in one_line(e)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty") as e2:
        read_text_file(tmp_path / "empty.txt")
    assert "empty.txt" in one_line(e2)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8: byte 0xe9 at offset 3") as e3:
        read_text_file(tmp_path / "latin1.txt")
    assert "latin1.txt" in one_line(e3)
    with pytest.raises(IsADirectoryError, match="folder") as e4:
        read_text_file(tmp_path)
    one_line(e4)
    (tmp_path / "crlf.txt").write_bytes("\ufeffa\r\nb".encode())
    assert read_text_file(tmp_path / "crlf.txt") == "a\r\nb"  # exact; BOM dropped


def test_file_task_errors(tmp_path: Path, text_file: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.txt") as e:
        build_task("charlm", TaskOptions(data=str(tmp_path / "nope.txt")))
    one_line(e)
    with pytest.raises(ValueError, match="needs a text file"):
        CharLMTask("file")
    with pytest.raises(ValueError, match="unknown corpus 'wiki'"):
        CharLMTask("wiki")
    with pytest.raises(ValueError, match="T=0"):
        CharLMTask("file", data=str(text_file), T=0)
    with pytest.raises(ValueError, match="takes no data file"):
        CharLMTask("stdlib", data=str(text_file))
    (tmp_path / "tiny.txt").write_text("abc", encoding="utf-8")
    with pytest.raises(ValueError, match="too few to split") as e2:
        CharLMTask("file", data=str(tmp_path / "tiny.txt"))
    one_line(e2)
    task = CharLMTask("file", data=str(text_file), T=100)
    with pytest.raises(ValueError, match="too short for 64 streams") as e3:
        task.train_batch(0, 64)
    one_line(e3)


# -- Tiny Shakespeare -----------------------------------------------------------------------
def test_tinyshakespeare_from_shared_file(shakespeare_file: Path) -> None:
    text = tinyshakespeare(data=shakespeare_file)
    assert len(text) == SHAKESPEARE_CHARS and len(set(text)) == 65
    assert tinyshakespeare(data=shakespeare_file.parent) == text  # folder lookup
    task = build_task("shakespeare", TaskOptions(data=str(shakespeare_file), T=64))
    assert isinstance(task, CharLMTask) and task.T == 64
    assert len(task.vocab) == 66 and task.input_size == task.output_size == 66
    n_train = int(SHAKESPEARE_CHARS * 0.9)  # nanoGPT's split
    assert task.metadata["chars"] == {"train": n_train, "val": 111_540, "test": 111_540}
    assert task.metadata["sha256"] == corpora_module.TINYSHAKESPEARE_SHA256
    assert "test == val" in task.note
    val = task.split("val")
    S, N = val.x.shape
    assert S == EVAL_STREAMS and N == (111_540 - 1) // S
    assert task.vocab.decode(val.x.flatten()) == text[n_train : n_train + S * N]
    assert task.baseline is not None and 4.0 < task.baseline < 5.0  # English unigram entropy


def test_tinyshakespeare_missing_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--download") as e:
        tinyshakespeare(cache_dir=tmp_path / "cache")
    assert "--data" in one_line(e)
    with pytest.raises(FileNotFoundError, match=r"expected tinyshakespeare\.txt or input\.txt"):
        tinyshakespeare(data=tmp_path)


def test_tinyshakespeare_download_through_local_server(
    tmp_path: Path,
    shakespeare_file: Path,
    serve: Callable[[Path], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(shakespeare_file, root / "input.txt")
    monkeypatch.setattr(corpora_module, "TINYSHAKESPEARE_URL", serve(root) + "input.txt")
    cache = tmp_path / "cache"
    task = build_task("shakespeare", TaskOptions(download=True, cache_dir=str(cache)))
    assert isinstance(task, CharLMTask)
    assert task.metadata["chars"]["train"] + task.metadata["chars"]["val"] == SHAKESPEARE_CHARS
    assert (cache / TINYSHAKESPEARE_CACHE).read_bytes() == shakespeare_file.read_bytes()
    (root / "input.txt").unlink()  # now found in the cache, no download
    assert len(tinyshakespeare(cache_dir=cache)) == SHAKESPEARE_CHARS


def test_tinyshakespeare_download_checksum_mismatch_leaves_nothing(
    tmp_path: Path, serve: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "www"
    root.mkdir()
    (root / "input.txt").write_text("First Citizen:\nnot the real file\n", encoding="utf-8")
    monkeypatch.setattr(corpora_module, "TINYSHAKESPEARE_URL", serve(root) + "input.txt")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="checksum mismatch") as e:
        tinyshakespeare(cache_dir=cache, download=True)
    one_line(e)
    assert not any(p.is_file() for p in cache.rglob("*"))


# -- training streams -----------------------------------------------------------------------
def test_train_batches_continue_streams(text_file: Path) -> None:
    text = read_text_file(text_file)
    train_text = text[: int(len(text) * 0.9)]  # 5400 characters
    task = CharLMTask("file", data=str(text_file), T=20, seed=3)
    B = 8
    K = task.chunks_per_pass(B)
    assert K == (5400 // B - 1) // 20 == 33
    batches = [task.train_batch(step, B) for step in range(2 * K + 2)]
    for b in batches:
        assert b.x.shape == b.y.shape == (B, 20) and b.x.dtype == b.y.dtype == torch.long
        assert b.lengths is None
    cyclic = train_text + train_text
    for k in range(2 * K + 1):
        x, y = batches[k].x, batches[k].y
        assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
        for row in range(B):  # every row is a contiguous piece of the (rotated) text
            piece = task.vocab.decode(x[row]) + task.vocab.decode(y[row, -1:])
            assert piece in cyclic
        if (k + 1) % K:  # within a pass the next batch continues every stream
            assert torch.equal(batches[k + 1].x[:, 0], y[:, -1])
    assert [task.resets_state(s, B) for s in range(2 * K + 2)] == [
        s % K == 0 for s in range(2 * K + 2)
    ]
    assert task.resets_state(0, B) and task.resets_state(K, B) and not task.resets_state(1, B)
    # pure function of (seed, step, batch_size); passes and seeds move the cut points
    again = CharLMTask("file", data=str(text_file), T=20, seed=3)
    assert all(torch.equal(again.train_batch(s, B).x, batches[s].x) for s in (0, 5, K + 1))
    assert not torch.equal(batches[0].x, batches[K].x)
    other = CharLMTask("file", data=str(text_file), T=20, seed=4)
    assert not torch.equal(other.train_batch(0, B).x, batches[0].x)


def test_val_streams_concatenate_to_the_val_text(tmp_path: Path, text_file: Path) -> None:
    text = read_text_file(text_file)
    n_train = int(len(text) * 0.9)
    task = CharLMTask("file", data=str(text_file))
    val = task.split("val")
    S, N = val.x.shape
    assert S == EVAL_STREAMS and N == (600 - 1) // S == 37
    val_ids = task.vocab.encode(text[n_train:])
    assert torch.equal(val.x.flatten(), val_ids[: S * N])
    assert torch.equal(val.y.flatten(), val_ids[1 : S * N + 1])
    assert torch.equal(val.x[1:, 0], val.y[:-1, -1])  # stream s+1 starts where s ends
    assert task.split("test") is task.split("val") or torch.equal(task.split("test").x, val.x)
    assert "test == val" in task.note and task.metadata["test"] == "val"
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        task.split("dev")
    # an explicit test file, with characters the training text lacks
    (tmp_path / "test.txt").write_text("abc€€ xyz\n" * 10, encoding="utf-8")
    with_test = CharLMTask("file", data=str(text_file), test_data=str(tmp_path / "test.txt"))
    test = with_test.split("test")
    assert test.x.shape == (EVAL_STREAMS, (100 - 1) // EVAL_STREAMS)
    assert with_test.metadata["unknown"]["test"] == 50  # € x y z
    assert with_test.metadata["chars"]["test"] == 100 and "test.txt" in with_test.note


def test_encode_text_layout() -> None:
    task_vocab = CharVocab.from_text("ab")
    ids = task_vocab.encode("ab" * 20 + "c")
    b = stream_batch(ids)
    assert b.x.shape == (16, 2) and torch.equal(b.x.flatten(), ids[:32])
    assert stream_batch(ids[:5]).x.shape == (4, 1)  # short text: fewer streams
    with pytest.raises(ValueError, match="too short"):
        stream_batch(ids[:1])


def test_encode_text_uses_the_task_vocab(text_file: Path) -> None:
    task = CharLMTask("file", data=str(text_file))
    b = task.encode_text("abc~" * 100)
    assert b.x.shape == (EVAL_STREAMS, 399 // EVAL_STREAMS)
    assert int((b.x == task.vocab.unk).sum()) > 0  # "~" is not in the training text


# -- loss, metrics, baseline, registry ------------------------------------------------------
def test_lm_loss_and_metrics(text_file: Path) -> None:
    task = CharLMTask("file", data=str(text_file), T=10)
    batch = task.train_batch(0, 4)
    V = len(task.vocab)
    uniform = torch.zeros(4, 10, V)
    m = task.metrics(uniform, batch)
    assert m["loss"] == pytest.approx(math.log(V), rel=1e-6)
    assert m["bpc"] == pytest.approx(math.log2(V), rel=1e-6)
    logits = torch.randn(4, 10, V, generator=torch.Generator().manual_seed(0))
    m = task.metrics(logits, batch)
    direct = torch.nn.functional.cross_entropy(logits.reshape(-1, V), batch.y.reshape(-1))
    assert m["loss"] == pytest.approx(float(direct), rel=1e-6)
    assert m["bpc"] == pytest.approx(m["loss"] / math.log(2), rel=1e-9)
    assert float(task.loss(logits, batch)) == pytest.approx(float(direct), rel=1e-6)


def test_unigram_baseline() -> None:
    assert unigram_entropy_bits(torch.tensor([0, 0, 1, 1]), 3) == pytest.approx(1.0)
    assert unigram_entropy_bits(torch.tensor([2, 2, 2]), 3) == pytest.approx(0.0)


def test_registry_and_defaults(tmp_path: Path, text_file: Path) -> None:
    task = build_task("charlm", TaskOptions(T=32, seed=1))
    assert isinstance(task, CharLMTask) and task.corpus == "stdlib"
    assert task.kind == "lm" and task.stateful and task.main_metric == "bpc"
    assert not task.higher_is_better and task.options() == {"corpus": "stdlib", "T": 32}
    assert task.metadata["stdlib"]["python_version"] and "standard library" in task.note
    file_task = build_task("charlm", TaskOptions(data=str(text_file)))
    assert isinstance(file_task, CharLMTask) and file_task.corpus == "file"
    assert file_task.T == 64
    rebuilt = CharLMTask(**file_task.options())
    assert torch.equal(rebuilt.split("val").x, file_task.split("val").x)
    with pytest.raises(ValueError, match="does not apply"):
        build_task("charlm", TaskOptions(download=True))
    config = resolve_config("charlm", file_task, TaskOptions(data=str(text_file)))
    assert config.model.cell == "lstm" and config.model.hidden_size == 512
    assert config.train.optimizer == "adamw" and config.train.schedule == "cosine"


def test_batch_moves_to_device(text_file: Path) -> None:
    task = CharLMTask("file", data=str(text_file), T=8)
    b: Batch = task.train_batch(0, 2).to("cpu")
    assert b.x.dtype == torch.long and len(b) == 2
