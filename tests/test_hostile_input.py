"""Hostile input: every bad value ends in one line naming it and a non-zero exit status
(a ``ValueError``/``TypeError`` from the library), with nothing half-written; properties
over the options and the public API with hypothesis."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnlab
from rnnlab import TaskOptions, TrainConfig
from rnnlab.cli import app, main
from rnnlab.layers import build_layers

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _exit_code(argv: list[str]) -> int:
    """``main``'s status; argparse's own errors exit (status 2) before it returns."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    capsys.readouterr()
    assert _exit_code(argv) == code, argv
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rnnlab") and "error:" in err, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "text.npz").write_text("not a zip")
    np.savez(tmp_path / "empty.npz")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object), y=np.array([1]))
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(b"hello\tbonjour\n" * 50)[:20])
    (tmp_path / "adir").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["copy", "--device", "bogus"], "'bogus'"),
        (["copy", "--T", "1000000000"], "T must"),
        (["copy", "--out", "{dir}/afile"], "afile is a file"),
        (["data", "--data", "{dir}/empty.npz"], "empty.npz"),
        (["data", "--data", "{dir}/objects.npz"], "pickled"),
        (["data", "--data", "{dir}/text.npz"], "never unpickles"),
        (["charlm", "--data", "{dir}/adir"], "adir"),
        (["translate", "--data", "{dir}/trunc.gz"], "trunc.gz"),
        (["copy", "--lr", "inf"], "lr"),
        (["copy", "--lr", "nan"], "lr"),
        (["copy", "--clip", "inf"], "clip"),
        (["copy", "--warmup", "-10"], "warmup"),
        (["copy", "--seed", "-1"], "seed"),
        (["copy", "--weight-decay", "-1"], "weight_decay"),
        (["copy", "--max-time", "inf"], "max_time"),
    ],
)
def test_bad_training_input_is_one_line_and_writes_nothing(
    files: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    out = files / "out"
    flags = [f.replace("{dir}", str(files)) for f in flags]
    argv = ["train", *flags, "--steps", "1", "--quiet"]
    if "--out" not in flags:
        argv += ["--out", str(out)]
    err = _one_line_error(capsys, argv)
    assert named in err, err
    assert not out.exists()
    assert (files / "afile").read_text() == "keep me"


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "copy"
    argv = ["train", "copy", "--T", "3", "--hidden", "4", "--batch-size", "4", "--steps", "1"]
    assert main([*argv, "--eval-batch-size", "8", "--out", str(out), "--quiet"]) == 0
    return out


def test_predict_refuses_non_finite_inputs_and_bad_lengths(copy_run: Path) -> None:
    run = rnnlab.load(copy_run)
    x = np.zeros((2, 23, 10), dtype=np.float32)  # copy at T=3: 23 one-hot steps
    assert run.predict(x).shape == (2, 23)
    with pytest.raises(ValueError, match="NaN or Inf"):
        run.predict(np.full((2, 23, 10), np.nan))
    with pytest.raises(ValueError, match="whole numbers"):
        run.predict(x, lengths=[2.5, 3])
    with pytest.raises(ValueError, match=r"\[1, 23\]"):
        run.predict(x, lengths=[24, 3])
    with pytest.raises(ValueError, match=r"\[1, 23\]"):
        run.predict(x, lengths=[0, 3])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        run.predict(x, lengths=[3])
    with pytest.raises(ValueError, match="shape"):
        run.predict(np.zeros((2, 23, 2)))
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        run.predict([["a", "b"]])


def test_load_refuses_a_bogus_device(copy_run: Path) -> None:
    with pytest.raises(ValueError, match="'bogus'"):
        rnnlab.load(copy_run, device="bogus")


def test_a_state_of_the_wrong_shape_given_to_a_layer() -> None:
    layer = build_layers("lstm", 3, 6)
    x = torch.randn(2, 4, 3)
    _, state = layer(x)
    with pytest.raises(ValueError, match="LSTMState of 2 tensors"):
        layer(x, state.h)
    with pytest.raises(ValueError, match=r"shape \(2, 6\) for a batch of 2"):
        layer(x, type(state)(state.h[:1], state.c[:1]))
    with pytest.raises(TypeError, match="integer tensor"):
        layer(x, state, torch.tensor([2.5, 3.0]))


def test_translate_input_errors_name_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnnlab.cli import translate

    monkeypatch.setattr(translate, "load", lambda *a, **k: None, raising=False)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(ValueError, match=r"binary.txt: not UTF-8"):
        translate.read_input_lines(str(binary))
    with pytest.raises(ValueError, match=r"missing.txt"):
        translate.read_input_lines(str(tmp_path / "missing.txt"))


def test_a_closed_pipe_ends_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: Any) -> int:
        raise BrokenPipeError

    monkeypatch.setattr(app.list_, "run", broken)
    monkeypatch.setattr(app.os, "dup2", lambda *a: None)
    monkeypatch.setattr(app.sys.stdout, "fileno", lambda: 1, raising=False)
    assert main(["list"]) == 141
    assert capsys.readouterr().err == ""


# -- properties -----------------------------------------------------------------------

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6),
)


@FAST
@given(field=st.sampled_from(["lr", "clip", "pf_lr", "max_time", "manifold_lr"]), value=NUMBERS)
def test_positive_finite_train_fields(field: str, value: float) -> None:
    if math.isfinite(value) and value > 0:
        assert getattr(TrainConfig(**{field: value}), field) == value
    else:
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: value})


@FAST
@given(
    field=st.sampled_from(["steps", "batch_size", "eval_every", "nan_skips", "warmup_steps"]),
    value=st.one_of(st.integers(-(10**9), 10**9), st.floats(), st.text(max_size=3), st.none()),
)
def test_count_train_fields(field: str, value: Any) -> None:
    ok = isinstance(value, int) and (value >= 0 if field == "warmup_steps" else value > 0)
    if ok:
        assert getattr(TrainConfig(**{field: value}), field) == value
    else:
        with pytest.raises((ValueError, TypeError), match=field):
            TrainConfig(**{field: value})


@FAST
@given(T=st.one_of(st.integers(-(10**12), 10**12), st.floats(), st.booleans()))
def test_task_lengths(T: Any) -> None:
    if isinstance(T, int) and not isinstance(T, bool) and 1 <= T <= 100_000:
        assert TaskOptions(T=T).T == T
    else:
        with pytest.raises(ValueError, match="T must"):
            TaskOptions(T=T)


@FAST
@given(
    flag=st.sampled_from(
        ["--lr", "--clip", "--steps", "--batch-size", "--warmup", "--seed", "--T", "--device"]
    ),
    text=st.one_of(
        st.sampled_from(["inf", "-inf", "nan", "-1", "0", "1e400", "0x10", "1.5", "", "cuda:x"]),
        st.text(max_size=6),
    ),
)
def test_cli_options_fail_in_one_line_before_writing(
    tmp_path_factory: pytest.TempPathFactory, flag: str, text: str
) -> None:
    """Any value either parses into a valid configuration or ends in exit status 2 with
    one line; with ``--steps 0`` appended nothing may train or be written."""
    out = tmp_path_factory.mktemp("cli") / "out"
    code = _exit_code(
        ["train", "copy", f"{flag}={text}", "--steps", "0", "--out", str(out), "--quiet"]
    )
    assert code == 2
    assert not out.exists()


@FAST
@given(
    shape=st.lists(st.sampled_from([0, 1, 2, 10]), min_size=0, max_size=4),
    fill=st.sampled_from([0.0, 1.0, math.nan, math.inf]),
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_]),
)
def test_predict_on_any_array(copy_run: Path, shape: list[int], fill: float, dtype: Any) -> None:
    run = _cached_load(copy_run)
    x = np.full(shape, fill).astype(dtype) if dtype is not np.bool_ else np.zeros(shape, bool)
    try:
        out = run.predict(x)
    except (ValueError, TypeError) as exc:
        assert len(str(exc).splitlines()) == 1
        return
    assert len(shape) == 3 and shape[0] > 0 and shape[1] > 0 and shape[2] == 10
    assert math.isfinite(fill) or dtype in (np.bool_, np.int64)
    assert out.shape == tuple(shape[:2])


_RUNS: dict[Path, Any] = {}


def _cached_load(path: Path) -> Any:
    if path not in _RUNS:
        _RUNS[path] = rnnlab.load(path)
    return _RUNS[path]


def test_a_run_recorded_on_a_gpu_still_loads_on_the_cpu(copy_run: Path, tmp_path: Path) -> None:
    import json
    import shutil

    run = tmp_path / "gpu"
    shutil.copytree(copy_run, run)
    config = json.loads((run / "config.json").read_text())
    config["train"]["device"] = "cuda:0"
    (run / "config.json").write_text(json.dumps(config))
    assert rnnlab.load(run).predict(np.zeros((1, 23, 10))).shape == (1, 23)


@pytest.fixture(scope="module")
def other_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "other"
    argv = ["train", "copy", "--T", "3", "--hidden", "5", "--batch-size", "4", "--steps", "1"]
    assert main([*argv, "--eval-batch-size", "8", "--out", str(out), "--quiet"]) == 0
    return out


def _edit_config(run: Path, edit: Any) -> None:
    import json

    config = json.loads((run / "config.json").read_text())
    edit(config)
    (run / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda run, other: (run / "config.json").unlink(), "missing config.json"),
        (lambda run, other: (run / "config.json").write_text("{bad"), "not valid JSON"),
        (lambda run, other: (run / "config.json").write_text("[1, 2]"), "JSON object"),
        (
            lambda run, other: _edit_config(run, lambda c: c["train"].update(future=1)),
            "invalid run config",
        ),
        (
            lambda run, other: _edit_config(run, lambda c: c["model"].update(family="rnn9")),
            "unknown model family 'rnn9'",
        ),
        (
            lambda run, other: (run / "trainer.pt").write_bytes(
                (other / "trainer.pt").read_bytes()
            ),
            "does not match the model",
        ),
        (
            lambda run, other: (run / "best.safetensors").write_bytes(
                (other / "best.safetensors").read_bytes()
            ),
            "does not match the model",
        ),
        (lambda run, other: torch.save([1, 2], run / "trainer.pt"), "corrupt trainer state"),
    ],
)
def test_a_damaged_run_folder_is_one_line(
    copy_run: Path,
    other_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Any,
    named: str,
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(copy_run, run)
    damage(run, other_run)
    errors = []
    for argv in (
        ["eval", str(run)],
        ["train", "copy", "--resume", "--out", str(run), "--steps", "2", "--quiet"],
    ):
        capsys.readouterr()
        code = _exit_code(argv)
        err = capsys.readouterr().err.strip()
        if code != 0:
            assert code == 2 and len(err.splitlines()) == 1 and "error:" in err, err
            errors.append(err)
    assert errors and any(named in err for err in errors), errors


def test_blank_texts_translate_to_empty_lines_and_an_empty_sentence_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rev"
    argv = ["train", "reverse", "--T", "3", "--hidden", "4", "--batch-size", "4", "--steps", "1"]
    assert main([*argv, "--eval-batch-size", "8", "--out", str(out), "--quiet"]) == 0
    run = rnnlab.load(out)
    got = run.translate(["a b", "", "  ", "c"])
    assert got[1:3] == ["", ""] and got[0] == run.translate(["a b"])[0]
    assert got[3] == run.translate(["c"])[0]
    err = _one_line_error(capsys, ["translate", str(out), " "])
    assert "empty" in err
