"""Downloading and caching data files: checksummed fetches and atomic writes.

Every file lands in its final place by ``os.replace`` from a temporary file in the same
folder, so an interrupted download or a bad checksum never leaves a partial file where a
later run would take it for the real one.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

CHUNK = 1 << 16  # bytes read per step while streaming a download


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``cache_dir`` when given, else ``~/.cache/rnnlab``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path.home() / ".cache" / "rnnlab"


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``algorithm`` is any :mod:`hashlib` name)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_beside(dest: Path) -> tuple[int, Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    return fd, Path(tmp)


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, checking its ``sha256`` and/or ``md5`` when given.

    The body is streamed to a temporary file beside ``dest``, hashed on the way, and moved
    into place only when every given checksum matches. On any failure nothing is left
    behind and a one-line ``OSError`` (network) or ``ValueError`` (checksum) is raised.

    Example::

        fetch("https://example.org/data.gz", "~/.cache/rnnlab/data.gz", md5="9fb6...")
    """
    dest = Path(dest).expanduser()
    hashes = {name: hashlib.new(name) for name, want in (("sha256", sha256), ("md5", md5)) if want}
    fd, tmp = _temp_beside(dest)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        for h in hashes.values():
                            h.update(chunk)
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise OSError(f"download of {url} failed: {reason}") from e
        for name, want in (("sha256", sha256), ("md5", md5)):
            if want and hashes[name].hexdigest() != want.lower():
                got = hashes[name].hexdigest()
                raise ValueError(
                    f"checksum mismatch for {url}: {name} {got}, expected {want}; nothing saved"
                )
        os.chmod(tmp, 0o644)  # mkstemp makes 0o600; a downloaded file is ordinary data
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def fetch_extract(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str,
    member: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a ``.gz`` file (``member=None``) or a ``.zip`` archive from ``url`` and save
    at ``dest`` its decompressed content (the zip's ``member``), checking that content's
    ``sha256``.

    The checksum is of the decompressed bytes, which stay the same when an archive is
    recompressed. The download goes to a temporary file beside ``dest`` and is deleted
    after extraction; the content lands in ``dest`` by ``os.replace`` only when its
    checksum matches, so on any failure nothing is left behind (one-line ``OSError`` for
    the network or a bad archive, ``ValueError`` for a checksum mismatch).
    """
    dest = Path(dest).expanduser()
    fd, archive = _temp_beside(dest)
    os.close(fd)
    tmp: Path | None = None
    try:
        fetch(url, archive, timeout=timeout)
        fd, tmp = _temp_beside(dest)
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with contextlib.ExitStack() as stack:
                    source: gzip.GzipFile | IO[bytes]
                    if member is None:
                        source = stack.enter_context(gzip.open(archive, "rb"))
                    else:
                        z = stack.enter_context(zipfile.ZipFile(archive))
                        source = stack.enter_context(z.open(member))
                    for chunk in iter(lambda: source.read(CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
            except (OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
                raise OSError(f"cannot extract {member or 'the content'} of {url}: {e}") from e
        if digest.hexdigest() != sha256.lower():
            raise ValueError(
                f"checksum mismatch for the content of {url}: sha256 {digest.hexdigest()}, "
                f"expected {sha256}; nothing saved"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        archive.unlink(missing_ok=True)
    return dest


def fetch_tar_members(
    url: str, dest_dir: str | os.PathLike[str], members: dict[str, str], timeout: float = 60.0
) -> list[Path]:
    """Download the ``.tar.gz`` archive ``url`` and save each of its ``members`` (archive
    path -> sha256 of the file) in ``dest_dir`` under the member's base name.

    The archive goes to a temporary file and is deleted afterwards; each member is written
    beside its destination and moved into place by ``os.replace`` only once every member
    has been extracted and matched its checksum, so on any failure nothing new is left
    behind (one-line ``OSError`` for the network or a bad archive or a missing member,
    ``ValueError`` for a checksum mismatch).
    """
    dest = Path(dest_dir).expanduser()
    fd, archive = _temp_beside(dest / ".archive")
    os.close(fd)
    written: list[tuple[Path, Path]] = []  # (temporary, final)
    try:
        fetch(url, archive, timeout=timeout)
        try:
            with tarfile.open(archive, "r:*") as tar:
                for name, sha256 in members.items():
                    source = tar.extractfile(name)
                    if source is None:
                        raise KeyError(name)
                    final = dest / Path(name).name
                    fd, tmp = _temp_beside(final)
                    written.append((tmp, final))
                    digest = hashlib.sha256()
                    with os.fdopen(fd, "wb") as out, source:
                        for chunk in iter(lambda: source.read(CHUNK), b""):  # noqa: B023
                            out.write(chunk)
                            digest.update(chunk)
                    if digest.hexdigest() != sha256.lower():
                        raise ValueError(
                            f"checksum mismatch for {name} in {url}: sha256 "
                            f"{digest.hexdigest()}, expected {sha256}; nothing saved"
                        )
        except (OSError, EOFError, KeyError, tarfile.TarError) as e:
            raise OSError(f"cannot extract {e} from {url}") from e
        for tmp, final in written:
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        written.clear()
    finally:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)
    return [dest / Path(name).name for name in members]


def save_npz_atomic(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to the ``.npz`` file ``path`` via a temporary file and ``os.replace``."""
    path = Path(path).expanduser()
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)  # type: ignore[arg-type]  # a key could be allow_pickle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
