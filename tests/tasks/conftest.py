"""Fixtures for the dataset tasks: a local HTTP server and the shared MNIST files."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]  # the repository root
# the shared read-only data: beside the repository (the main checkout), inside it (a copy
# that carries shared/), or at the workspace's fixed place (worktrees one level deeper)
SHARED_DATA_CANDIDATES = (
    _ROOT.parent / "shared" / "data",
    _ROOT / "shared" / "data",
    Path("/work/shared/data"),
)
SHARED_DATA = next((p for p in SHARED_DATA_CANDIDATES if p.is_dir()), SHARED_DATA_CANDIDATES[0])


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], str]]:
    """``serve(folder)`` serves ``folder`` on 127.0.0.1 (ephemeral port) and returns its
    base URL; servers stop at teardown."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (it or its files may be missing: callers skip then)."""
    return SHARED_DATA.resolve()


@pytest.fixture
def mnist_dir() -> Path:
    """The shared folder with the MNIST t10k files (read-only); skips when absent."""
    folder = (SHARED_DATA / "mnist").resolve()
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"shared MNIST files not found in {folder}")
    return folder


@pytest.fixture
def translation_dir() -> Path:
    """The shared translation folder (Tatoeba eng-fra.txt.gz, multi30k/); skips when absent."""
    folder = (SHARED_DATA / "translation").resolve()
    if not (folder / "multi30k" / "val.en").is_file() or not (folder / "eng-fra.txt.gz").is_file():
        pytest.skip(f"shared translation data not found in {folder}")
    return folder
