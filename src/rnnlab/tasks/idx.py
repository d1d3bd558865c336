"""Reader for the IDX format of the MNIST files (LeCun et al.), optionally gzipped.

Layout (big-endian): a 4-byte magic ``0x0000 <type> <ndim>``, then ``ndim`` int32 sizes,
then the data. MNIST uses unsigned bytes (type ``0x08``): magic 2049 for labels
``(N,)`` and 2051 for images ``(N, rows, cols)``.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

IDX_LABELS = 2049  # uint8, 1 dimension
IDX_IMAGES = 2051  # uint8, 3 dimensions


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a complete gzip file ({e}); expected gzipped IDX") from e


def read_idx(path: str | os.PathLike[str], magic: int) -> np.ndarray:
    """The uint8 array stored in the IDX file ``path`` (``.gz`` is decompressed).

    ``magic`` is the expected magic number (:data:`IDX_LABELS` or :data:`IDX_IMAGES`);
    a wrong magic number or a size that disagrees with the header is a one-line
    ``ValueError`` naming the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise ValueError(f"{path}: {len(data)} bytes, expected an IDX header of {header} bytes")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: IDX magic number {found}, expected {magic}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"{path}: {len(data)} bytes, expected {expected} for an IDX array of shape {shape}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
