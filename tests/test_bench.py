"""The speed benchmarks run and report well-formed results (their speed is not tested)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rnnlab.bench import BENCHMARKS, BenchResult, benchmark_names, format_table, run_benchmarks
from rnnlab.bench.beam import multi30k_sources


def test_quick_lstm_benchmarks_report_their_fields() -> None:
    # (``select="lstm"`` would also pick the minLSTM scan benchmarks)
    results = [
        r for r in run_benchmarks(select="vs_torch", repeats=1, quick=True) if "lstm" in r.name
    ]
    assert [r.name for r in results] == ["lstm_generic_vs_torch", "lstm_fast_vs_torch"]
    for r in results:
        assert isinstance(r, BenchResult)
        assert r.numerator_s > 0 and r.denominator_s > 0
        assert math.isclose(r.ratio, r.numerator_s / r.denominator_s)
        assert "LSTMCell" in r.numerator and r.denominator == "torch.nn.LSTM"
        assert {"B", "T", "D", "H", "repeats"} <= set(r.config)
        assert r.config["repeats"] == 1
    assert "fast=False" in results[0].numerator and "fast=True" in results[1].numerator
    table = format_table(results)
    assert all(r.name in table for r in results)


def test_names_and_selection() -> None:
    assert benchmark_names() == [
        "lstm_generic_vs_torch",
        "lstm_fast_vs_torch",
        "gru_generic_vs_torch",
        "gru_fast_vs_torch",
        "elman_generic_vs_torch",
        "elman_fast_vs_torch",
        "clockwork_vs_dense_elman",
        "urnn_vs_dense_elman",
        "lm_sampling_carried_vs_recompute",
        "beam_batched_vs_one_at_a_time",
        "seq2seq_train_vs_sketch",
        "charlm_step_vs_plain",
        "transformer_kv_cache_vs_recompute",
        "transformer_lm_step_vs_plain",
        "memn2n_step_vs_plain",
        "ggnn_step_vs_plain",
        "ntm_step_vs_controller",
        *(
            f"scan_{cell}_{size}"
            for cell in ("mingru", "minlstm", "lru", "s6", "deltanet")
            for size in ("4x64x4096", "16x256x1024")
            if (cell, size) != ("deltanet", "16x256x1024")
        ),
    ]
    assert list(BENCHMARKS) == benchmark_names()  # one table, in running order
    with pytest.raises(ValueError, match="'nope'"):
        run_benchmarks(select="nope", quick=True)
    with pytest.raises(ValueError, match="repeats"):
        run_benchmarks(repeats=0, quick=True)


def test_quick_charlm_step_benchmark() -> None:
    (result,) = run_benchmarks(select="charlm_step", repeats=1, quick=True)
    assert result.name == "charlm_step_vs_plain" and result.ratio > 0
    assert "AdamW" in result.config["pass"] and "nn.LSTM" in result.denominator


def test_quick_ntm_benchmark() -> None:
    (result,) = run_benchmarks(select="ntm_step", repeats=1, quick=True)
    assert result.name == "ntm_step_vs_controller" and result.ratio > 0
    assert "NTMCell" in result.numerator and "fast=False" in result.denominator
    assert result.config["N"] == 6


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    results = run_benchmarks(select="elman_fast", repeats=1, quick=True, threads=before + 1)
    assert results[0].config["threads"] == before + 1
    assert torch.get_num_threads() == before


def test_quick_sampling_benchmark() -> None:
    (result,) = run_benchmarks(select="sampling", repeats=1, quick=True)
    assert result.name == "lm_sampling_carried_vs_recompute"
    assert result.config["tokens_per_s_carried"] > 0 and result.numerator_s > 0


def test_quick_seq2seq_benchmarks() -> None:
    (beam,) = run_benchmarks(select="beam", repeats=1, quick=True)
    (train,) = run_benchmarks(select="sketch", repeats=1, quick=True)
    assert beam.name == "beam_batched_vs_one_at_a_time"
    assert beam.config["sentences_per_s_batched"] > 0 and beam.denominator_s > 0
    assert train.name == "seq2seq_train_vs_sketch"
    assert train.config["s_per_batch_rnnlab"] == train.numerator_s > 0


def test_beam_benchmark_takes_a_model_and_sources() -> None:
    from rnnlab.bench.beam import _untrained_model, beam_benchmark

    torch.manual_seed(0)
    model = _untrained_model(9, 4, 4)
    result = beam_benchmark(1, quick=True, model=model, sources=[[4, 5], [6], [7, 8, 4]])
    assert result.config["sentences"] == 3 and result.config["max_length"] == 14


def test_quick_beam_benchmark_on_multi30k_sentences(tmp_path: Path) -> None:
    folder = tmp_path / "multi30k"
    folder.mkdir()
    lines = ["A dog runs.", "Two men, one woman.", "", "A cat sleeps on a red sofa."]
    (folder / "val.en").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sources = multi30k_sources(str(tmp_path))  # finds the multi30k subfolder
    assert [len(s) for s in sources] == [4, 6, 8]  # Moses tokens; the empty line dropped
    [result] = run_benchmarks(select="beam_batched", repeats=1, quick=True, data=str(folder))
    assert result.name == "beam_batched_vs_one_at_a_time"
    assert result.config["sentences"] == 3 and result.ratio > 0


def test_quick_transformer_benchmarks() -> None:
    """The KV cache and recomputation generate the same tokens (checked inside); the
    training step runs against the plain nanoGPT-style model."""
    cache, step = run_benchmarks(select="transformer", repeats=1, quick=True)
    assert cache.name == "transformer_kv_cache_vs_recompute" and cache.ratio > 0
    assert cache.config["tokens"] == 12 and cache.config["tokens_per_s_cached"] > 0
    assert step.name == "transformer_lm_step_vs_plain" and step.ratio > 0
    assert step.config["tokens_per_s_ratio"] == pytest.approx(1 / step.ratio)


def test_quick_scan_benchmarks_and_calibration(tmp_path: Path) -> None:
    from rnnlab.bench.scan import calibrate
    from rnnlab.cells.scan_table import read_table

    results = run_benchmarks(select="scan_mingru", repeats=1, quick=True)
    assert [r.name for r in results] == ["scan_mingru_4x64x4096", "scan_mingru_16x256x1024"]
    assert all("step loop" in r.denominator and r.ratio > 0 for r in results)
    rows, path = calibrate(repeats=1, quick=True, folder=tmp_path)
    table = read_table(path)
    assert len(table) == 2 and {r.method for r in table} <= {
        "loop",
        "chunked",
        "tree",
        "associative",
    }
    chosen = [r for r in rows if r["chosen"]]
    assert [(r["T"], r["form"]) for r in chosen] == [(t.T, t.method) for t in table]
