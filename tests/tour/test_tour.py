"""The tour: the commands it prints reproduce its runs' configurations, its runner survives
a failing claim, and every claim measures something at a tiny budget."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli.app import build_parser
from rnnlab.cli.flags import config_from_flags
from rnnlab.tasks.registry import build_task
from rnnlab.tour import CLAIMS, TINY, Budget, Claim, run_tour, select_claims
from rnnlab.tour.recipe import Recipe, count_params, match_params
from rnnlab.tour.run import strict_json
from rnnlab.tour.section import ClaimSection
from rnnlab.tour.unitary import linear_system_data

RECIPES = [
    Recipe("hmm", {"model": "lstm", "hidden_size": 8}, {"steps": 5, "max_time": 2.0}, T=8),
    Recipe(
        "hmm",
        {"model": "lstm", "hidden_size": 8},
        {"steps": 5, "seed": 2, "professor_forcing": True, "pf_g_min_acc": 0.0},
        T=8,
    ),
    Recipe("copy", {"model": "elman"}, {"optimizer": "sgd", "lr": 1.0, "clip": None}, T=5),
    Recipe("mnist1d", {"model": "gru", "bidirectional": True, "num_layers": 2}, {"steps": 3}),
    Recipe("reverse", {"hidden_size": 8, "attention": "none"}, {"eval_every": 10**6}, T=4),
    Recipe(
        "charlm", {"model": "transformer", "hidden_size": 16, "num_layers": 2}, {"max_time": 3.0}
    ),
]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: f"{r.task}-{r.model.get('model')}")
def test_the_printed_command_resolves_to_the_same_config(recipe: Recipe) -> None:
    words = shlex.split(recipe.command("runs/x"))
    assert words[:2] == ["rnnlab", "train"]
    args = build_parser().parse_args(words[1:])
    task = build_task(args.task, recipe.options())
    assert config_from_flags(args.task, task, args) == recipe.config()


def test_match_params_finds_the_nearest_hidden_size() -> None:
    base = Recipe("mnist1d", {"model": "gru", "hidden_size": 16})
    target = count_params(base)
    deep = match_params(base.with_model(num_layers=2), target)
    h = deep.model["hidden_size"]
    got = count_params(deep)
    for other in (h - 1, h + 1):
        assert abs(got - target) <= abs(count_params(deep.with_model(hidden_size=other)) - target)


def test_linear_system_data_is_the_end_state_of_the_recurrence() -> None:
    A = [[0.5, 3.0], [0.0, 0.5]]
    data = linear_system_data(A, n=50, T=6, seed=1)
    a = np.asarray(A)
    # h_T = sum_t A^(T-t) x_t, built independently of the loop
    h = sum(np.linalg.matrix_power(a, 6 - t) @ data["x"][:, t - 1].T for t in range(1, 7)).T
    expected = (h - h.mean(0)) / h.std(0)
    np.testing.assert_allclose(data["y"], expected, rtol=1e-4, atol=1e-4)


def test_budget_needs_three_seeds() -> None:
    with pytest.raises(ValueError, match="3 seeds"):
        Budget("x", steps=1, max_time=1.0, hidden=1, rows=1, seeds=2, length=1)


def test_select_claims_by_number_or_key() -> None:
    assert [c.number for c in select_claims("4,memory")] == [4, 9]
    assert select_claims(None) == CLAIMS
    with pytest.raises(ValueError, match="unknown claim"):
        select_claims("10")


def test_strict_json_drops_non_finite_numbers() -> None:
    data = strict_json({"a": math.nan, "b": [math.inf, 1.0], "c": (1, "x")})
    assert data == {"a": None, "b": [None, 1.0], "c": [1, "x"]}
    json.dumps(data, allow_nan=False)


def _fine(budget: Budget, out_dir: Path) -> ClaimSection:
    return ClaimSection(title="fine", facts=(("number", "1"),), numbers={"x": math.nan, "y": 2})


def _broken(budget: Budget, out_dir: Path) -> ClaimSection:
    raise RuntimeError("the experiment broke")


def test_a_failing_claim_is_reported_and_the_tour_goes_on(tmp_path: Path) -> None:
    claims = (
        Claim(1, "fine", "Fine", _fine),
        Claim(2, "broken", "Broken", _broken),
        Claim(3, "after", "After", _fine),
    )
    lines: list[str] = []
    outcomes = run_tour(TINY, tmp_path, claims, log=lines.append)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert any("claim 2 (broken)" in line and "FAILED" in line for line in lines)
    results = json.loads((tmp_path / "results.json").read_text())
    assert [c["status"] for c in results["claims"]] == ["ok", "failed", "ok"]
    assert results["claims"][0]["numbers"] == {"x": None, "y": 2}
    assert "the experiment broke" in results["claims"][1]["error"]
    html = (tmp_path / "index.html").read_text()
    assert "Broken (FAILED)" in html and "the experiment broke" in html


def test_the_cli_exit_status_is_non_zero_when_a_claim_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnnlab.cli import app
    from rnnlab.tour import claims as registry

    broken = (Claim(1, "broken", "Broken", _broken),)
    monkeypatch.setattr(registry, "CLAIMS", broken)
    assert app.main(["tour", "--quick", "--out", str(tmp_path)]) == 1
    monkeypatch.setattr(registry, "CLAIMS", (Claim(1, "fine", "Fine", _fine),))
    assert app.main(["tour", "--quick", "--out", str(tmp_path)]) == 0


HEAVY = {"exposure", "multiscale", "memory"}


@pytest.mark.parametrize(
    "claim",
    [pytest.param(c, marks=pytest.mark.slow) if c.key in HEAVY else c for c in CLAIMS],
    ids=lambda c: c.key,
)
def test_each_claim_measures_at_a_tiny_budget(claim: Claim, tmp_path: Path) -> None:
    section = claim.measure(TINY, tmp_path)
    assert isinstance(section, ClaimSection)
    assert section.title.startswith(f"{claim.number}. ")
    facts = dict(section.facts)
    assert facts["command"].startswith("rnnlab ")
    assert facts["number"] and facts["reference"]
    assert section.figures and all(f.png for f in section.figures)
    assert section.numbers
    json.dumps(strict_json(dict(section.numbers)), allow_nan=False)


def test_the_page_has_a_section_per_claim(tmp_path: Path) -> None:
    def titled(claim: Claim) -> Claim:
        def measure(budget: Budget, out_dir: Path) -> ClaimSection:
            return ClaimSection(
                title=f"{claim.number}. {claim.title}", anchor=f"claim-{claim.number}"
            )

        return Claim(claim.number, claim.key, claim.title, measure)

    run_tour(TINY, tmp_path, tuple(titled(c) for c in CLAIMS), log=lambda s: None)
    html = (tmp_path / "index.html").read_text()
    assert html.count("<section") == len(CLAIMS) == 9
    for c in CLAIMS:
        assert f'<section id="claim-{c.number}">' in html
    assert json.loads((tmp_path / "results.json").read_text())["claims"][8]["key"] == "memory"


def test_the_translation_part_is_skipped_without_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnnlab.tour.data import DATA_ENV
    from rnnlab.tour.memory import _translation

    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    numbers: dict[str, object] = {}
    assert _translation(TINY, tmp_path / "out", numbers) is None
    assert numbers == {} and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_translation_part_draws_bleu_against_length(tmp_path: Path) -> None:
    from rnnlab.tour.data import data_root
    from rnnlab.tour.memory import _translation

    root = data_root()
    if root is None or not (root / "translation" / "multi30k" / "train.en").is_file():
        pytest.skip("no Multi30k under the shared data folder")
    numbers: dict[str, dict[str, dict[str, object]]] = {}
    result = _translation(TINY, tmp_path, numbers)
    assert result is not None
    assert set(numbers["translation"]) == {"multi30k-enfr-attention", "multi30k-enfr-none"}
    for got in numbers["translation"].values():
        assert got["metric"] == "bleu"
        assert len(got["by_length"]) == len(got["buckets"]) == len(got["counts"])  # type: ignore[arg-type]
    assert "--tgt fr" in result.runs[0].command and "--attention none" in result.runs[1].command
    assert all(f.png for f in result.figures) and "BLEU" in result.number
