"""`rnnlab report` over tiny real runs: the curves are the logged figures, every section,
table and figure is on the page, text from run folders is escaped, views that cannot be
drawn become notes, and bad input is one line with nothing written."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.report import render_page
from rnnlab.report.build import build_report
from rnnlab.report.curves import learning_curves
from rnnlab.report.runs import read_run


def _lines(run: Path, split: str) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if r["split"] == split]


def test_learning_curves_are_the_logged_figures(tiny_runs: dict[str, Path]) -> None:
    run = tiny_runs["charlm"]
    curves = learning_curves(read_run(run))
    train, val = _lines(run, "train"), _lines(run, "val")
    assert curves.train_loss == ([r["step"] for r in train], [r["loss"] for r in train])
    assert curves.lr == ([r["step"] for r in train], [r["lr"] for r in train])
    assert curves.val_metric == ([r["step"] for r in val], [r["bpc"] for r in val])
    assert curves.val_loss[1] == [r["loss"] for r in val]
    norms = json.loads((run / "clipping.json").read_text())["grad_norm"]
    assert curves.grad_norm == (list(range(1, 7)), norms)  # pre-clip, every step
    assert curves.metric == "bpc" and curves.clip == 1.0


def _section(page, label: str):  # type: ignore[no-untyped-def]
    (section,) = [s for s in page.sections if s.title.startswith(f"{label}:")]
    return section


def test_sections_tables_and_figures(tiny_runs: dict[str, Path]) -> None:
    names = ["copy", "charlm", "reverse"]
    page = build_report([tiny_runs[n] for n in names])
    assert [s.title.split(":")[0] for s in page.sections] == ["Comparison", *names]
    (table,) = page.sections[0].tables
    assert len(page.sections[0].figures) == 1  # the overlaid curves
    for name, row in zip(names, table.rows, strict=True):
        summary = json.loads((tiny_runs[name] / "summary.json").read_text())
        test = summary["metrics"]["test"][summary["main_metric"]]
        assert row[0] == name and row[5] == summary["main_metric"] and row[7] == f"{test:.4g}"
    for name in names:
        section = _section(page, name)
        titles = [f.title for f in section.figures]
        assert titles[0] == f"learning curves: {name}"
        config = [t for t in section.tables if t.collapsed]
        assert len(config) == 1 and ("model.hidden_size", "16") in config[0].rows
        final = section.tables[0]
        assert final.columns == ("metric", "val", "test") and final.rows
    assert "gradient flow through time" in [f.title for f in _section(page, "copy").figures]
    assert "attention map" in [f.title for f in _section(page, "reverse").figures]
    (translations,) = [t for t in _section(page, "reverse").tables if t.columns[0] == "source"]
    assert len(translations.rows) == 5
    for source, reference, _ in translations.rows:  # the reverse task: the source reversed
        assert reference.split() == source.split()[::-1]
    samples = (tiny_runs["charlm"] / "samples.txt").read_text(encoding="utf-8")
    label, text = _section(page, "charlm").preformatted[-1]
    assert label.startswith("sample at step 6") and samples.rstrip("\n").endswith(text)

    html = render_page(page)
    figures = [f for s in page.sections for f in s.figures]
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert len(uris) == len(figures) == 6
    assert all(base64.b64decode(u).startswith(b"\x89PNG") for u in uris)
    assert html.count("<details>") == 3 and "<script" not in html


def test_text_from_run_folders_is_escaped(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "charlm"
    shutil.copytree(tiny_runs["charlm"], run)
    summary = json.loads((run / "summary.json").read_text())
    summary["note"] = "<script>alert(1)</script>"
    (run / "summary.json").write_text(json.dumps(summary))
    with open(run / "samples.txt", "a", encoding="utf-8") as f:
        f.write("--- step 7 ---\n</pre><b>bold</b> & more\n")
    html = render_page(build_report([run]))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;/pre&gt;&lt;b&gt;bold&lt;/b&gt; &amp; more" in html


def test_diagnose_figures_in_the_folder_replace_the_computed_view(
    tiny_runs: dict[str, Path], tmp_path: Path
) -> None:
    run = tmp_path / "reverse"
    shutil.copytree(tiny_runs["reverse"], run)
    argv = ["diagnose", "attention", "--run", str(run), "--text", "a b c", "--out"]
    assert main([*argv, str(run / "diagnose")]) == 0
    (run / "broken.png").write_bytes(b"GIF89a not a png")
    section = build_report([run]).sections[0]
    titles = [f.title for f in section.figures]
    assert "diagnose/attention.png" in titles and "attention map" not in titles
    (found,) = [f for f in section.figures if f.title == "diagnose/attention.png"]
    assert found.png == (run / "diagnose" / "attention.png").read_bytes()
    assert any(n.startswith("broken.png: not shown") for n in section.notes)


def test_a_view_that_cannot_be_drawn_is_a_note(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(tiny_runs["copy"], run)
    (run / "best.safetensors").write_bytes(b"not weights")
    (run / "summary.json").unlink()
    page = build_report([run])
    section = page.sections[0]
    assert [f.title for f in section.figures] == ["learning curves: copy"]
    assert any(n.startswith("gradient flow: not drawn") for n in section.notes)
    assert "training has not finished" in section.summary
    assert any("no summary.json" in n for n in section.notes)


def _report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["report", *argv])
    return code, capsys.readouterr().err


def test_cli_writes_one_file(
    tiny_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "report.html"
    runs = [str(tiny_runs["copy"]), str(tiny_runs["charlm"])]
    assert main(["report", *runs, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"report: {out} (2 run(s)")
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Comparison" in html
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not-a-run", "is not a run folder (no config.json)"),
        ("missing", "does not exist"),
        ("out-is-folder", "is a folder; expected a file name"),
        ("out-under-file", "is not a folder"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    case: str,
    message: str,
    tiny_runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs, out = [str(tiny_runs["copy"])], tmp_path / "report.html"
    if case == "not-a-run":
        (tmp_path / "empty").mkdir()
        runs.append(str(tmp_path / "empty"))
    elif case == "missing":
        runs.append(str(tmp_path / "nowhere"))
    elif case == "out-is-folder":
        out = tmp_path / "afolder"
        out.mkdir()
    else:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "report.html"
    code, err = _report([*runs, "--out", str(out)], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert err.startswith("rnnlab: error:")
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name not in ("empty", "afolder", "afile")]
    assert leftovers == []


def test_without_matplotlib_one_line_names_the_plot_extra(
    tiny_runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "report.html"
    code, err = _report([str(tiny_runs["copy"]), "--out", str(out)], capsys)
    assert code == 2 and "pip install 'rnnlab[plot]'" in err and err.count("\n") == 1
    assert not out.exists()


def test_transformer_encoder_decoder_shows_its_cross_attention(tmp_path: Path) -> None:
    out = tmp_path / "tf-reverse"
    argv = ["reverse", "--T", "5", "--model", "transformer", "--layers", "1", "--heads", "2"]
    tiny = ["--hidden", "16", "--steps", "6", "--eval-every", "3", "--batch-size", "8", "--quiet"]
    assert main(["train", *argv, *tiny, "--out", str(out)]) == 0
    section = _section(build_report([out]), "tf-reverse")
    titles = [f.title for f in section.figures]
    assert "cross-attention heads" in titles and "attention map" not in titles
    assert not [n for n in section.notes if "not drawn" in n]
