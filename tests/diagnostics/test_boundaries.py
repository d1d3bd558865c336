"""HM-RNN boundaries: the agreement measure on hand examples and against a brute-force
matching, the boundaries read off a language model, and ``rnnlab diagnose boundaries``."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from torch import Tensor

from rnnlab.cells import ElmanCell, HMRNNCell, LSTMCell, State, make_cell
from rnnlab.cli import main
from rnnlab.diagnostics.boundaries import (
    boundary_agreement,
    boundary_matrix,
    hmrnn_boundaries,
    is_word_boundary,
    word_boundaries,
)
from rnnlab.layers import Recurrent, Stacked, build_layers
from rnnlab.models import LanguageModel


def t(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.bool)


def test_agreement_on_a_hand_example() -> None:
    pred = t([0, 1, 0, 0, 1, 1, 0, 0])  # boundaries at 1, 4, 5
    ref = t([0, 0, 1, 0, 1, 0, 0, 1])  # at 2, 4, 7
    exact = boundary_agreement(pred, ref)
    assert (exact.hits, exact.predicted, exact.reference, exact.positions) == (1, 3, 3, 8)
    assert exact.precision == exact.recall == exact.f1 == pytest.approx(1 / 3)
    near = boundary_agreement(pred, ref, tolerance=1)
    # 1 -> 2 and 4 -> 4 match; 5 cannot take 4 (used) and 7 is two away
    assert near.hits == 2 and near.f1 == pytest.approx(2 / 3)
    # precision and recall differ when the counts do: 2 predicted, 3 reference, 1 hit
    uneven = boundary_agreement(t([1, 0, 0, 1]), t([1, 1, 1, 0]))
    assert (uneven.precision, uneven.recall) == (0.5, pytest.approx(1 / 3))
    assert uneven.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def test_agreement_edge_cases() -> None:
    none = boundary_agreement(t([0, 0, 0]), t([0, 1, 0]))
    assert (none.precision, none.recall, none.f1) == (0.0, 0.0, 0.0)
    # rows are separate texts: the end of row 0 never matches the start of row 1
    rows = boundary_agreement(t([0, 0, 1, 0, 0, 0]).view(2, 3), t([0, 0, 0, 1, 0, 0]).view(2, 3), 1)
    assert rows.hits == 0 and rows.positions == 6
    with pytest.raises(ValueError, match="must have one shape"):
        boundary_agreement(t([0, 1]), t([0, 1, 0]))
    with pytest.raises(ValueError, match="tolerance must be a non-negative integer, got -1"):
        boundary_agreement(t([0, 1]), t([0, 1]), tolerance=-1)


def _maximum_matching(pred: list[int], ref: list[int], tolerance: int) -> int:
    """Kuhn's augmenting paths on the bipartite graph |p - r| <= tolerance."""
    owner: dict[int, int] = {}

    def augment(p: int, seen: set[int]) -> bool:
        for r in ref:
            if abs(p - r) <= tolerance and r not in seen:
                seen.add(r)
                if r not in owner or augment(owner[r], seen):
                    owner[r] = p
                    return True
        return False

    return sum(augment(p, set()) for p in pred)


def test_greedy_matching_is_maximum() -> None:
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 14)
        pred = [rng.random() < 0.4 for _ in range(n)]
        ref = [rng.random() < 0.4 for _ in range(n)]
        tol = rng.randint(0, 3)
        got = boundary_agreement(torch.tensor(pred), torch.tensor(ref), tolerance=tol).hits
        p = [i for i, v in enumerate(pred) if v]
        r = [i for i, v in enumerate(ref) if v]
        assert got == _maximum_matching(p, r, tol)


def test_word_boundaries() -> None:
    assert word_boundaries(list("a b,c\n'd")).tolist() == [0, 1, 0, 1, 0, 1, 1, 0]
    assert not is_word_boundary("\ufffd") and is_word_boundary("\u00a0") and is_word_boundary("—")


def test_boundary_matrix() -> None:
    layer = Recurrent(make_cell("hmrnn", 3, 4)).to(torch.float64)
    x = torch.randn(3, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([9, 4, 1])
    z = boundary_matrix(layer, x, lengths)
    assert z.shape == (3, 9, 2) and not z.requires_grad
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    _, _, states = layer.trajectory(x, None, lengths)
    expected = HMRNNCell.boundaries(states)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(z[b, :n], expected[b, :n])
        assert not z[b, n:].any()
    assert torch.equal(boundary_matrix(layer, x), HMRNNCell.boundaries(layer.trajectory(x)[2]))
    with pytest.raises(TypeError, match="HMRNNCell"):
        boundary_matrix(Recurrent(LSTMCell(3, 4)), x)


def test_boundaries_of_an_untrained_model() -> None:
    torch.manual_seed(0)
    layer = Recurrent(HMRNNCell(6, 5, num_layers=3))
    model = LanguageModel(11, layer)
    ids = torch.randint(11, (2, 9))
    z = hmrnn_boundaries(model, ids, chunk=4)  # three chunks, the state carried
    assert list(z) == ["level 1", "level 2"]
    assert all(v.shape == (2, 9) for v in z.values())
    with torch.no_grad():
        reference = boundary_matrix(layer, model.embedding(ids))  # one pass: (2, 9, 2)
    for l, name in enumerate(z):
        torch.testing.assert_close(z[name], reference[..., l])
    assert set(torch.cat(list(z.values())).unique().tolist()) <= {0.0, 1.0}

    stack = LanguageModel(11, Stacked([Recurrent(HMRNNCell(6, 4, 2)), Recurrent(HMRNNCell(8, 3))]))
    names = list(hmrnn_boundaries(stack, ids))
    assert names == ["layer 1: level 1", "layer 2: level 1", "layer 2: level 2"]
    with pytest.raises(ValueError, match="no HMRNNCell; train it with --model hmrnn"):
        hmrnn_boundaries(LanguageModel(11, build_layers("gru", 6, 4)), ids)


class SignCell(ElmanCell):
    """An Elman cell that "ends a segment" wherever its first unit is positive."""

    def boundaries(self, states: Sequence[State]) -> Tensor:
        return torch.stack([(s.h[:, :1] > 0).to(s.h.dtype) for s in states], dim=1)


def test_boundaries_of_any_cell_that_decides_them() -> None:
    torch.manual_seed(0)
    layer = Recurrent(SignCell(6, 5))
    model = LanguageModel(11, layer)
    ids = torch.randint(11, (2, 9))
    z = hmrnn_boundaries(model, ids, chunk=4)
    with torch.no_grad():
        _, _, states = layer.trajectory(model.embedding(ids))
    assert list(z) == ["level 1"]
    assert torch.equal(z["level 1"], (torch.stack([s.h[:, 0] for s in states], 1) > 0).float())
    assert torch.equal(boundary_matrix(layer, model.embedding(ids)), z["level 1"].unsqueeze(-1))


def test_diagnose_boundaries_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat {i % 7} sat on the mat.\n" for i in range(60)))
    run = str(tmp_path / "run")
    common = ["--data", str(corpus), "--hidden", "4", "--T", "8", "--batch-size", "4"]
    train = ["train", "charlm", *common, "--steps", "2", "--eval-every", "2", "--quiet"]
    assert main([*train, "--model", "hmrnn", "--out", run]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["num_layers"] == 1  # charlm's default for hmrnn: one 3-level cell
    out = tmp_path / "diag"
    text = "the cat sat, on the mat"
    argv = ["diagnose", "boundaries", "--run", run, "--text", text, "--out", str(out)]
    assert main(argv) == 0
    data = json.loads((out / "boundaries.json").read_text())
    assert data["chars"] == list(text) and data["unknown"] == 1  # "," is not in the corpus
    assert list(data["boundaries"]) == ["level 1", "level 2"]
    assert all(len(v) == len(text) for v in data["boundaries"].values())
    assert data["word_boundaries"] == [int(c in " ,") for c in text]
    val = data["validation"]
    n = len(corpus.read_text())
    assert val["chars"] == 16 * ((n - int(0.9 * n) - 1) // 16)  # 16 streams of the last 10%
    for level, agreement in val["agreement"].items():
        exact = agreement["tolerance_0"]
        assert exact["predicted"] == round(val["boundary_rate"][level] * val["chars"])
        assert agreement["tolerance_1"]["hits"] >= exact["hits"]
    assert (out / "boundaries.png").stat().st_size > 1000
    assert "level 1" in capsys.readouterr().out

    other = str(tmp_path / "gru")
    assert main([*train, "--model", "gru", "--layers", "1", "--out", other]) == 0
    capsys.readouterr()
    assert main(["diagnose", "boundaries", "--run", other, "--out", str(out)]) == 2
    assert "no HMRNNCell" in capsys.readouterr().err
