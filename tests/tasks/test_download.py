from __future__ import annotations

import gzip
import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rnnlab.tasks.download import cache_root, fetch, fetch_extract, file_digest, save_npz_atomic

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several streamed chunks


@pytest.fixture
def served(tmp_path: Path, serve: Callable[[Path], str]) -> str:
    root = tmp_path / "www"
    root.mkdir()
    (root / "blob.bin").write_bytes(PAYLOAD)
    return serve(root)


def test_fetch_verifies_and_saves(tmp_path: Path, served: str) -> None:
    dest = tmp_path / "cache" / "sub" / "blob.bin"
    out = fetch(
        served + "blob.bin",
        dest,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        md5=hashlib.md5(PAYLOAD).hexdigest().upper(),  # case does not matter
    )
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert file_digest(dest, "md5") == hashlib.md5(PAYLOAD).hexdigest()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blob.bin"]  # no temp file left


def test_fetch_checksum_mismatch_leaves_nothing(tmp_path: Path, served: str) -> None:
    dest = tmp_path / "cache" / "blob.bin"
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        fetch(served + "blob.bin", dest, md5="0" * 32)
    assert "\n" not in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_fetch_missing_url_is_an_oserror(tmp_path: Path, served: str) -> None:
    dest = tmp_path / "cache" / "nope.bin"
    with pytest.raises(OSError, match=r"nope\.bin") as info:
        fetch(served + "nope.bin", dest)
    assert "\n" not in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_fetch_keeps_existing_file_on_failure(tmp_path: Path, served: str) -> None:
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"old")
    with pytest.raises(ValueError):
        fetch(served + "blob.bin", dest, sha256="0" * 64)
    assert dest.read_bytes() == b"old"


def test_save_npz_atomic_round_trip(tmp_path: Path) -> None:
    path = save_npz_atomic(tmp_path / "a" / "arrays.npz", {"x": np.arange(5)})
    with np.load(path) as f:
        assert f["x"].tolist() == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in path.parent.iterdir()) == ["arrays.npz"]


def test_cache_root() -> None:
    assert cache_root("/tmp/x") == Path("/tmp/x")
    assert cache_root(None) == Path.home() / ".cache" / "rnnlab"


# -- fetch_extract: the checksum is of the decompressed content ---------------------------
def test_fetch_extract_gz_and_zip_member(tmp_path: Path, serve: Callable[[Path], str]) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "blob.gz").write_bytes(gzip.compress(PAYLOAD))
    with zipfile.ZipFile(www / "blob.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("other.txt", b"x")
        z.writestr("dir/blob.bin", PAYLOAD)
    url = serve(www)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    out = fetch_extract(url + "blob.gz", tmp_path / "a" / "blob.bin", sha)
    assert out.read_bytes() == PAYLOAD and [p.name for p in out.parent.iterdir()] == ["blob.bin"]
    out = fetch_extract(url + "blob.zip", tmp_path / "b" / "blob.bin", sha, member="dir/blob.bin")
    assert out.read_bytes() == PAYLOAD and [p.name for p in out.parent.iterdir()] == ["blob.bin"]


def test_fetch_extract_failures_leave_nothing(tmp_path: Path, serve: Callable[[Path], str]) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "blob.gz").write_bytes(gzip.compress(PAYLOAD))
    (www / "plain.gz").write_bytes(PAYLOAD)  # not gzip
    with zipfile.ZipFile(www / "blob.zip", "w") as z:
        z.writestr("blob.bin", PAYLOAD)
    url = serve(www)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    dest = tmp_path / "c" / "blob.bin"
    with pytest.raises(ValueError, match="checksum mismatch") as e:
        fetch_extract(url + "blob.gz", dest, "0" * 64)
    assert "\n" not in str(e.value)
    with pytest.raises(OSError, match="cannot extract") as e2:
        fetch_extract(url + "plain.gz", dest, sha)
    assert "\n" not in str(e2.value)
    with pytest.raises(OSError, match=r"nope\.bin"):
        fetch_extract(url + "blob.zip", dest, sha, member="nope.bin")
    with pytest.raises(OSError, match=r"missing\.gz"):
        fetch_extract(url + "missing.gz", dest, sha)
    assert list(dest.parent.iterdir()) == []
