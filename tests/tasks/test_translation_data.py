"""Tatoeba and Multi30k readers, the tutorial filter, splits, and checksummed downloads."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from rnnlab.tasks import translation_data as td
from rnnlab.tasks.download import file_digest
from rnnlab.tasks.translation_data import (
    ParallelText,
    multi30k_folder,
    multi30k_splits,
    read_multi30k,
    read_tatoeba,
    read_tatoeba_file,
    split_by_source,
    tatoeba_path,
    tutorial_normalize,
    tutorial_short_filter,
)

TATOEBA_LINES = [
    "Go.\tVa !",
    "I'm cold.\tJ'ai froid.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 & #2",
    "",
    "He is très fatigué.\tIl est très fatigué.",
    "I'm cold.\tJe suis froid.",
    "You are one two three four five six seven.\tTu es un.",
    "You are one two three four five six seven eight.\tTu es un.",
]


def one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.fixture
def tatoeba_txt(tmp_path: Path) -> Path:
    path = tmp_path / "eng-fra.txt"
    path.write_text("\n".join(TATOEBA_LINES) + "\n", encoding="utf-8")
    return path


# -- Tatoeba --------------------------------------------------------------------------------
def test_read_tatoeba_txt_gz_and_zip(tatoeba_txt: Path, tmp_path: Path) -> None:
    pairs = read_tatoeba_file(tatoeba_txt)
    assert len(pairs) == 6  # the blank line is skipped, the attribution field dropped
    assert pairs.source[1] == "I'm cold." and pairs.target[1] == "J'ai froid."
    gz = tmp_path / "eng-fra.txt.gz"
    gz.write_bytes(gzip.compress(tatoeba_txt.read_bytes()))
    assert read_tatoeba_file(gz) == pairs
    zipped = tmp_path / "data.zip"  # the PyTorch tutorial's layout
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("data/eng-fra.txt", tatoeba_txt.read_bytes())
    assert read_tatoeba_file(zipped) == pairs
    fr_en = read_tatoeba(tatoeba_txt, src="fr", tgt="en")
    assert fr_en.source == pairs.target and fr_en.target == pairs.source


def test_read_tatoeba_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Hello.\tBonjour.\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2") as e:
        read_tatoeba_file(bad)
    one_line(e)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_tatoeba_file(tmp_path / "nope.txt")
    empty_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("names.txt", "x")
    with pytest.raises(ValueError, match="holds none of"):
        read_tatoeba_file(empty_zip)
    with pytest.raises(ValueError, match="source language 'de' is not in Tatoeba") as e:
        read_tatoeba(bad, src="de", tgt="fr")
    one_line(e)
    with pytest.raises(ValueError, match="both 'en'"):
        read_tatoeba(bad, src="en", tgt="en")


def test_tutorial_normalize_and_filter() -> None:
    assert tutorial_normalize("  I'm COLD.  ") == "i m cold"
    assert tutorial_normalize("Élève, où es-tu ?") == "eleve ou es tu ?"
    assert tutorial_short_filter("I'm cold.", "J'ai froid.")
    assert tutorial_short_filter("He is très fatigué.", "Il est très fatigué.")
    assert not tutorial_short_filter("Go.", "Va !")  # no prefix
    assert not tutorial_short_filter("Hello, I am Tom.", "Bonjour.")  # prefix not at start
    # MAX_LENGTH = 10 compared with <: 9 words pass, 10 do not
    assert tutorial_short_filter("You are one two three four five six seven.", "Tu es un.")
    assert not tutorial_short_filter("You are one two three four five six seven eight.", "Tu.")
    assert not tutorial_short_filter(
        "I am here.", "un deux trois quatre cinq six sept huit neuf dix"
    )


def test_short_filter_keeps_the_tutorial_pairs(tatoeba_txt: Path) -> None:
    short = read_tatoeba(tatoeba_txt, short=True)
    assert short.source == [
        "I'm cold.",
        "He is très fatigué.",
        "I'm cold.",
        "You are one two three four five six seven.",
    ]


def test_split_by_source_groups_and_seeds() -> None:
    sources = [f"s{i // 3}" for i in range(300)]  # 100 sentences, 3 translations each
    pairs = ParallelText(sources, [f"t{i}" for i in range(300)])
    a = split_by_source(pairs, seed=0)
    assert [len(a[k]) for k in ("train", "val", "test")] == [240, 30, 30]
    seen = {k: set(a[k].source) for k in a}
    assert not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    assert not seen["train"] & seen["val"]
    assert sorted(a["train"].target + a["val"].target + a["test"].target) == sorted(pairs.target)
    assert a["train"].target == sorted(a["train"].target, key=lambda t: int(t[1:]))  # order kept
    b = split_by_source(pairs, seed=0)
    c = split_by_source(pairs, seed=1)
    assert a == b
    assert c["test"] == a["test"] and c["val"] != a["val"]  # fixed test, val by seed
    with pytest.raises(ValueError, match="fractions"):
        split_by_source(pairs, seed=0, fractions=(0.5, 0.2, 0.2))


# -- Multi30k -------------------------------------------------------------------------------
def write_multi30k(folder: Path, n_train: int = 20, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", 5)):
        for lang in ("en", "de", "fr"):
            text = "".join(f"{lang} {split} sentence {i}.\n" for i in range(n))
            if gz:
                (folder / f"{split}.{lang}.gz").write_bytes(gzip.compress(text.encode()))
            else:
                (folder / f"{split}.{lang}").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_read_multi30k(tmp_path: Path, gz: bool) -> None:
    folder = write_multi30k(tmp_path / "m", gz=gz)
    data = read_multi30k(folder, "de", "fr")
    assert sorted(data) == ["train", "val"]
    assert len(data["train"]) == 20 and len(data["val"]) == 5
    assert data["val"].source[3] == "de val sentence 3." and data["val"].target[3] == (
        "fr val sentence 3."
    )
    (folder / "test.de").write_text("a\nb\n", encoding="utf-8")
    (folder / "test.fr").write_text("c\nd\n", encoding="utf-8")
    assert read_multi30k(folder, "de", "fr")["test"] == ParallelText(["a", "b"], ["c", "d"])


def test_read_multi30k_errors(tmp_path: Path) -> None:
    folder = write_multi30k(tmp_path / "m")
    (folder / "val.en").write_text("only one line\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"val\.en has 1 lines but val\.de has 5") as e:
        read_multi30k(folder, "en", "de")
    one_line(e)
    (folder / "train.fr").unlink()
    with pytest.raises(FileNotFoundError, match=r"train\.fr") as e:
        read_multi30k(folder, "fr", "de")
    one_line(e)
    with pytest.raises(ValueError, match="target language 'cs' is not in Multi30k"):
        read_multi30k(folder, "en", "cs")


def test_multi30k_splits_hold_out_val_and_test_is_official_val(tmp_path: Path) -> None:
    official = read_multi30k(write_multi30k(tmp_path / "m", n_train=50), "en", "de")
    splits = multi30k_splits(official, seed=3, n_val=10)
    assert splits["test"] == official["val"]
    assert len(splits["train"]) == 40 and len(splits["val"]) == 10
    assert sorted(splits["train"].source + splits["val"].source) == sorted(official["train"].source)
    assert multi30k_splits(official, seed=3, n_val=10) == splits
    assert multi30k_splits(official, seed=4, n_val=10)["val"] != splits["val"]


def test_multi30k_folder_finds_a_subfolder(tmp_path: Path) -> None:
    write_multi30k(tmp_path / "translation" / "multi30k")
    assert multi30k_folder(tmp_path / "translation", "en", "de") == (
        tmp_path / "translation" / "multi30k"
    )
    with pytest.raises(FileNotFoundError, match="--download") as e:
        multi30k_folder(None, "en", "de", cache_dir=tmp_path / "cache")
    one_line(e)


# -- the shared copies ----------------------------------------------------------------------
def test_shared_files_match_the_download_checksums(translation_dir: Path) -> None:
    for name, sha in td.MULTI30K_SHA256.items():
        assert file_digest(translation_dir / "multi30k" / name) == sha, name
    with gzip.open(translation_dir / "eng-fra.txt.gz", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == td.TATOEBA_SHA256


def test_shared_multi30k_sizes(translation_dir: Path) -> None:
    data = read_multi30k(multi30k_folder(translation_dir, "en", "de"), "en", "de")
    assert {k: len(v) for k, v in data.items()} == {"train": 29000, "val": 1014}
    assert data["train"].source[0].startswith("Two young, White males are outside")
    assert data["train"].target[0].startswith("Zwei junge weiße Männer sind im Freien")


@pytest.mark.slow
def test_shared_tatoeba_short_filter(translation_dir: Path) -> None:
    pairs = read_tatoeba(translation_dir / "eng-fra.txt.gz", short=True)
    assert len(pairs) == 11822
    splits = split_by_source(pairs, seed=0)
    assert sum(len(s) for s in splits.values()) == 11822
    assert not set(splits["train"].source) & set(splits["test"].source)


# -- downloads from a local server ----------------------------------------------------------
def test_multi30k_download_made_up_files(
    tmp_path: Path, serve: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    www = tmp_path / "www"
    write_multi30k(www, gz=True)
    contents = {}
    for p in www.iterdir():
        contents[p.name.removesuffix(".gz")] = gzip.decompress(p.read_bytes())
    monkeypatch.setattr(td, "MULTI30K_URL", serve(www))
    monkeypatch.setattr(
        td, "MULTI30K_SHA256", {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()}
    )
    cache = tmp_path / "cache"
    folder = multi30k_folder(None, "en", "fr", download=True, cache_dir=cache)
    assert folder == cache / "multi30k"
    assert sorted(p.name for p in folder.iterdir()) == ["train.en", "train.fr", "val.en", "val.fr"]
    assert (folder / "val.fr").read_bytes() == contents["val.fr"]
    assert len(read_multi30k(folder, "en", "fr")["train"]) == 20
    # a wrong checksum leaves nothing behind
    monkeypatch.setitem(td.MULTI30K_SHA256, "train.de", "0" * 64)
    with pytest.raises(ValueError, match="checksum mismatch") as e:
        multi30k_folder(None, "de", "en", download=True, cache_dir=cache)
    one_line(e)
    assert sorted(p.name for p in folder.iterdir()) == ["train.en", "train.fr", "val.en", "val.fr"]


def test_multi30k_download_shared_files_with_real_checksums(
    translation_dir: Path,
    tmp_path: Path,
    serve: Callable[[Path], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    for split in ("train", "val"):
        for lang in ("en", "de"):
            raw = (translation_dir / "multi30k" / f"{split}.{lang}").read_bytes()
            (www / f"{split}.{lang}.gz").write_bytes(gzip.compress(raw, compresslevel=1))
    monkeypatch.setattr(td, "MULTI30K_URL", serve(www))
    folder = multi30k_folder(None, "de", "en", download=True, cache_dir=tmp_path / "cache")
    for name in ("train.en", "train.de", "val.en", "val.de"):
        assert file_digest(folder / name) == td.MULTI30K_SHA256[name]


def test_tatoeba_download_from_zip(
    translation_dir: Path,
    tmp_path: Path,
    serve: Callable[[Path], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    with gzip.open(translation_dir / "eng-fra.txt.gz", "rb") as f:
        content = f.read()
    with zipfile.ZipFile(www / "fra-eng.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("_about.txt", "terms")
        z.writestr(td.TATOEBA_MEMBER, content)
    monkeypatch.setattr(td, "TATOEBA_URL", serve(www) + "fra-eng.zip")
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="--download"):
        tatoeba_path(cache_dir=cache)
    path = tatoeba_path(download=True, cache_dir=cache)
    assert path == cache / td.TATOEBA_CACHE and path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == ["eng-fra.txt"]
    assert tatoeba_path(cache_dir=cache) == path  # cached: no download needed
