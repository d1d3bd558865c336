"""The report in a real browser: headless Chromium (Debian's ``chromium``) loads every
figure of a report over tiny runs (none broken, none of zero size), and a screenshot of its
first screen is a PNG (written to ``$RNNLAB_SCREENSHOT_DIR`` when set). Skipped where
``chromium`` is not installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rnnlab.cli import main

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# appended by the test to a copy of the report (the report itself has no JavaScript): once
# loaded, the page says how many images decoded with a non-zero size, out of how many
COUNT_IMAGES = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0);
  const out = document.createElement("p");
  out.id = "image-check";
  out.textContent = `images-loaded ${loaded.length} of ${images.length}`;
  document.body.appendChild(out);
});
</script>
"""


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_every_figure_loads_in_chromium(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    runs = [str(tiny_runs[name]) for name in ("copy", "charlm", "reverse")]
    assert main(["report", *runs, "--out", str(report)]) == 0
    html = report.read_text(encoding="utf-8")
    expected = html.count("<img ")
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", COUNT_IMAGES + "</body>"), encoding="utf-8")
    dom = _chromium("--dump-dom", "--virtual-time-budget=10000", probe.as_uri())
    found = re.search(r"images-loaded (\d+) of (\d+)", dom.stdout)
    assert found is not None, dom.stderr[-2000:]
    loaded, total = int(found.group(1)), int(found.group(2))
    assert total == expected == 6 and loaded == total  # overlay, 3 curves, gradflow, attention

    shots = Path(os.environ.get("RNNLAB_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "report.png"
    shot.unlink(missing_ok=True)
    result = _chromium(f"--screenshot={shot}", "--window-size=1280,900", report.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 900)
