"""Conformance suite: every registered model family x every task kind it serves.

The families are read from the registry at collection time, so a family registered with
:func:`rnnlab.models.register_model` joins every test here automatically, built with its
default options unless :data:`CONFIGS` lists small variants of it (for ``rnn``: every
registered cell, so a cell registered with :func:`rnnlab.cells.register_cell` joins too,
and a few stacks and heads). A family that raises ``ValueError`` for a task kind does not
serve it: that case is skipped, but every variant must serve some kind. Models are checked
in float64 and eval mode on synthetic batches in the layout of each kind
(:mod:`rnnlab.tasks.base`), with ragged lengths where a kind has them, against what the
trainer, run folders and decoding rely on: outputs of the documented shape, an honest
``causal`` flag, rows independent of each other and of padding, configs and weights that
round-trip, and for token generators a step-by-step run through ``teacher_tokens`` that
reproduces the teacher-forced outputs, and beam search of width 1 that is greedy decoding.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from rnnlab._tree import state_leaves
from rnnlab.cells import cell_names
from rnnlab.decoding import beam_search, greedy
from rnnlab.models import RNNConfig, TokenGenerator, family_names, model_family
from rnnlab.models.registry import config_from_json, config_to_json, family_of
from rnnlab.tasks.base import IGNORE_INDEX, Batch
from rnnlab.tasks.seq2seq import collate
from rnnlab.tasks.spec import KINDS, TaskSpec
from rnnlab.training.checkpoint import load_weights, save_weights

F64 = torch.float64
FAMILIES = family_names()

# small variants of each family's config, by name (a family not listed: its defaults); the
# rnn family: every registered cell on its own, and stacks and heads over a few
CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "rnn": {
        **{cell: dict(cell=cell, hidden_size=4, embedding_size=3) for cell in cell_names()},
        "gru-dot": dict(cell="gru", hidden_size=6, embedding_size=5, attention="dot"),
        # non-causal readers; a generator refuses them; dropout is off in eval mode
        "lstm-bidir": dict(
            cell="lstm",
            hidden_size=4,
            num_layers=2,
            bidirectional=True,
            dropout=0.3,
            attention="general",
            input_feeding=False,
        ),
        "elman-deep": dict(cell="elman", stack="deep", num_layers=2, hidden_size=5, deep_output=7),
        "lstm-dilated": dict(
            cell="lstm",
            stack="dilated",
            dilations=(1, 2),
            num_layers=2,
            hidden_size=5,
            fast=False,
            chrono_delay=8,
            feed_condition=True,
        ),
        "elman-residual": dict(
            cell="elman", num_layers=2, residual=True, hidden_size=4, attention="none"
        ),
    },
}

# the transformer family: every position scheme, post-norm, untied, heads not a power of two
CONFIGS["transformer"] = {
    "rotary": dict(num_layers=2, num_heads=2, hidden_size=8, positions="rotary"),
    "alibi-post-norm-untied": dict(
        num_layers=2,
        num_heads=3,
        hidden_size=12,
        positions="alibi",
        pre_norm=False,
        tie_weights=False,
        dropout=0.3,
    ),
    "sinusoidal": dict(num_layers=1, num_heads=2, hidden_size=8, positions="sinusoidal"),
    "learned": dict(num_layers=2, num_heads=1, hidden_size=6, positions="learned", mlp_ratio=2.0),
}

# the synthetic tasks: sizes of each kind (lm reads a start symbol it never predicts)
SPECS = {
    "classify": TaskSpec("classify", 3, 4, "accuracy", True),
    "regress": TaskSpec("regress", 3, 2, "mse", prediction="values"),
    "tag": TaskSpec("tag", 3, 5, "accuracy", True),
    "lm": TaskSpec("lm", 7, 6, "bpc"),
    "vec2seq": TaskSpec("vec2seq", 4, 6, "bpc"),
    "seq2seq": TaskSpec("seq2seq", 11, 9, "exact_match", True),
}
B, T = 3, 6
LENGTHS = [4, 6, 1]  # of the float sequences: unsorted, a full row and a one-step row
SOURCE_LENGTHS, TARGET_LENGTHS = (5, 2, 7), (3, 6, 1)  # seq2seq, EOS not counted


def config_ids(family: str) -> list[str]:
    return list(CONFIGS.get(family, {"defaults": {}}))


def make_config(family: str, config_id: str) -> Any:
    return model_family(family).make_config(CONFIGS.get(family, {}).get(config_id, {}))


def make_model(family: str, config_id: str, kind: str, seed: int = 0) -> nn.Module:
    """The family's model for ``kind`` in float64 and eval mode; skips a kind it refuses."""
    torch.manual_seed(seed)
    try:
        model = model_family(family).build(make_config(family, config_id), SPECS[kind])
    except ValueError as exc:
        pytest.skip(f"{family}/{config_id} does not serve {kind}: {exc}")
    return model.to(F64).eval()


def make_batch(kind: str, seed: int = 0, full: bool = False) -> Batch:
    """A batch of ``kind`` in the layout of tasks/base.py (``full``: no padding)."""
    g = torch.Generator().manual_seed(seed)
    spec = SPECS[kind]
    lengths = None if full else torch.tensor(LENGTHS)
    if kind in ("classify", "regress", "tag"):
        x = torch.randn(B, T, spec.input_size, dtype=F64, generator=g)
        if kind == "classify":
            return Batch(x, torch.randint(spec.output_size, (B,), generator=g), lengths)
        if kind == "regress":
            return Batch(x, torch.randn(B, spec.output_size, dtype=F64, generator=g), lengths)
        y = torch.randint(spec.output_size, (B, T), generator=g)
        if lengths is not None:
            y[torch.arange(T) >= lengths.unsqueeze(1)] = IGNORE_INDEX
        return Batch(x, y, lengths)
    if kind == "lm":
        x = torch.randint(spec.input_size, (B, T), generator=g)
        return Batch(x, torch.randint(spec.output_size, (B, T), generator=g))
    if kind == "vec2seq":
        x = torch.randn(B, spec.input_size, dtype=F64, generator=g)
        return Batch(x, torch.randint(spec.output_size, (B, T), generator=g))
    if kind == "seq2seq":  # ids 4.. are words; collate appends EOS and pads
        n_src, n_tgt = ((T - 1,) * B, (T - 1,) * B) if full else (SOURCE_LENGTHS, TARGET_LENGTHS)
        sources = [torch.randint(4, spec.input_size, (n,), generator=g).tolist() for n in n_src]
        targets = [torch.randint(4, spec.output_size, (n,), generator=g).tolist() for n in n_tgt]
        return collate(sources, targets)
    raise AssertionError(kind)


def expected_shape(kind: str, batch: Batch) -> tuple[int, ...]:
    """The documented output shape (tasks/base.py)."""
    V = SPECS[kind].output_size
    if kind in ("classify", "regress"):
        return (B, V)
    if kind in ("tag", "lm"):
        return (B, batch.x.shape[1], V)
    return (B, batch.targets.shape[1], V)  # vec2seq, seq2seq: one row per target token


def real_positions(kind: str, batch: Batch) -> Tensor:
    """``(B, T)`` bool: the sequence outputs a loss reads (targets not ``IGNORE_INDEX``)."""
    if kind == "tag" and batch.lengths is not None:
        return torch.arange(batch.x.shape[1]) < batch.lengths.unsqueeze(1)
    return batch.targets != IGNORE_INDEX


def assert_state_close(actual: Any, expected: Any, **tol: Any) -> None:
    assert type(actual) is type(expected)
    a, e = state_leaves(actual), state_leaves(expected)
    assert len(a) == len(e)
    for x, y in zip(a, e, strict=True):
        torch.testing.assert_close(x, y, **tol)


def step_through(model: Any, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
    """``model.step`` over ``tokens (B, T)`` from ``state``: logits ``(B, T, V)``, state."""
    outputs = []
    for token in tokens.unbind(1):
        logits, state = model.step(token, state)
        outputs.append(logits)
    return torch.stack(outputs, 1), state


def generator_or_skip(model: nn.Module) -> Any:
    if not isinstance(model, TokenGenerator):
        pytest.skip(f"{type(model).__name__} is not a token generator")
    assert model.causal, "a token generator reads left to right"
    return model


families_x_configs = pytest.mark.parametrize(
    ("family", "config_id"), [(f, c) for f in FAMILIES for c in config_ids(f)]
)
families_x_configs_x_kinds = pytest.mark.parametrize(
    ("family", "config_id", "kind"),
    [(f, c, k) for f in FAMILIES for c in config_ids(f) for k in KINDS],
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ------------------------------------------------------------------------------- tests


def test_registry_is_not_empty() -> None:
    assert "rnn" in FAMILIES
    assert set(CONFIGS) <= set(FAMILIES), "configs for a family that is not registered"
    for name in FAMILIES:
        family = model_family(name)
        assert family.name == name and family.description
        assert dataclasses.is_dataclass(family.config)
        assert family.config.__dataclass_params__.frozen  # type: ignore[attr-defined]
        family.config()  # every option has a default


@pytest.mark.parametrize("family", FAMILIES)
def test_every_variant_serves_some_kind(family: str) -> None:
    for config_id in config_ids(family):
        config = make_config(family, config_id)
        served = []
        for kind in KINDS:
            try:
                model_family(family).build(config, SPECS[kind])
            except ValueError as exc:
                assert "\n" not in str(exc), "a one-line error for a kind not served"
                continue
            served.append(kind)
        assert served, f"{family}/{config_id} serves no task kind"


@families_x_configs
def test_config_round_trips_through_json(family: str, config_id: str) -> None:
    config = make_config(family, config_id)
    assert family_of(config).name == family
    stored = config_to_json(config)
    assert stored["family"] == family
    back = config_from_json(json.loads(json.dumps(stored)))
    assert type(back) is type(config) and back == config
    fields = {k: v for k, v in stored.items() if k != "family"}
    assert model_family(family).make_config(fields) == config
    with pytest.raises(ValueError, match="has no option 'no_such_option'"):
        config_from_json({**stored, "no_such_option": 1})


@families_x_configs_x_kinds
def test_outputs_have_the_documented_shape(family: str, config_id: str, kind: str) -> None:
    model = make_model(family, config_id, kind)
    batch = make_batch(kind)
    out, _ = model(batch, None)
    assert isinstance(out, Tensor) and out.shape == expected_shape(kind, batch)
    assert out.dtype == F64 and bool(torch.isfinite(out).all())
    again, _ = model(batch)  # state=None is the default
    assert torch.equal(again, out)


@families_x_configs_x_kinds
def test_causal_is_a_bool_that_tells_the_truth(family: str, config_id: str, kind: str) -> None:
    """Changing the inputs from step ``k`` on leaves the outputs before ``k`` alone exactly
    when ``causal`` says so, for every ``k``. A generator reads its targets one step late,
    so there the outputs through ``k`` stay: the output at ``t`` never sees target ``t``."""
    model = make_model(family, config_id, kind)
    assert isinstance(model.causal, bool)
    if kind in ("classify", "regress"):
        return  # one output per sequence: no time to be causal in
    batch = make_batch(kind, full=True)
    out, _ = model(batch)
    late = kind in ("vec2seq", "seq2seq")  # the targets are the decoder's inputs
    steps = out.shape[1]
    for k in range(0 if late else 1, steps - 1 if late else steps):
        if kind == "tag":
            x = batch.x.clone()
            x[:, k:] = torch.randn_like(x[:, k:])
            changed = batch._replace(x=x)
        elif kind == "lm":
            x = batch.x.clone()
            x[:, k:] = (x[:, k:] + 1) % SPECS[kind].input_size
            changed = batch._replace(x=x)
        else:  # other word ids (4..V-1) on every real target from k on
            y = batch.targets.clone()
            V = SPECS[kind].output_size
            words = 4 + (y[:, k:] - 3) % (V - 4)
            y[:, k:] = torch.where(y[:, k:] == IGNORE_INDEX, y[:, k:], words)
            changed = batch._replace(y=y)
        kept = k + 1 if late else k
        out2, _ = model(changed)
        assert not torch.allclose(out2[:, kept:], out[:, kept:]), f"k={k}: the change is unseen"
        if model.causal:
            torch.testing.assert_close(out2[:, :kept], out[:, :kept], rtol=0, atol=0)
        else:
            assert not torch.allclose(out2[:, :kept], out[:, :kept]), f"k={k}: it is causal"


@families_x_configs_x_kinds
def test_rows_are_independent_of_each_other_and_of_padding(
    family: str, config_id: str, kind: str
) -> None:
    """Each row alone, cut to its real length, gives what it gives inside the padded batch."""
    model = make_model(family, config_id, kind)
    batch = make_batch(kind)
    out, _ = model(batch)
    for b in range(B):
        row = batch.rows(slice(b, b + 1))
        n = None if batch.lengths is None else int(batch.lengths[b])
        if kind in ("classify", "regress", "tag"):
            assert n is not None
            y = row.targets[:, :n] if kind == "tag" else row.targets
            alone = Batch(row.x[:, :n], y, torch.tensor([n]))
        elif kind == "seq2seq":
            assert n is not None
            m = int((row.targets != IGNORE_INDEX).sum())
            alone = Batch(row.x[:, :n], row.targets[:, :m], torch.tensor([n]))
        else:
            alone = row
        out_b, _ = model(alone)
        if kind in ("classify", "regress"):
            torch.testing.assert_close(out_b[0], out[b])
        else:
            steps = out_b.shape[1]
            torch.testing.assert_close(out_b[0], out[b, :steps])


@families_x_configs_x_kinds
def test_weights_round_trip_through_safetensors(
    family: str, config_id: str, kind: str, tmp_path: Path
) -> None:
    model = make_model(family, config_id, kind)
    path = tmp_path / "model.safetensors"
    save_weights(model, path)
    fresh = make_model(family, config_id, kind, seed=1)
    batch = make_batch(kind)
    out, state = model(batch)
    assert not torch.allclose(fresh(batch)[0], out), "the seed does not change the weights"
    load_weights(fresh, path)
    assert fresh.state_dict().keys() == model.state_dict().keys()
    out2, state2 = fresh(batch)
    assert torch.equal(out2, out)
    assert_state_close(state2, state, rtol=0, atol=0)


@families_x_configs_x_kinds
def test_stepping_through_teacher_tokens_reproduces_the_outputs(
    family: str, config_id: str, kind: str
) -> None:
    """``step`` over ``teacher_tokens(batch)`` from its state equals ``model(batch)`` on
    every position a loss reads, and so does it from a carried state."""
    model = generator_or_skip(make_model(family, config_id, kind))
    batch = make_batch(kind)
    out, final = model(batch)
    real = real_positions(kind, batch)
    tokens, state = model.teacher_tokens(batch)
    assert tokens.dtype == torch.long and tokens.shape == out.shape[:2]
    with torch.no_grad():
        stepped, stepped_final = step_through(model, tokens, state)
    torch.testing.assert_close(stepped[real], out[real])
    if final is None:
        return  # the model keeps no state between batches (an encoder-decoder)
    assert_state_close(stepped_final, final)
    # the next batch continues from the carried state (truncated BPTT)
    nxt = make_batch(kind, seed=1)
    out2, final2 = model(nxt, final)
    tokens2, state2 = model.teacher_tokens(nxt, final)
    with torch.no_grad():
        stepped2, stepped_final2 = step_through(model, tokens2, state2)
    torch.testing.assert_close(stepped2, out2)
    assert_state_close(stepped_final2, final2)
    assert not torch.allclose(out2, model(nxt)[0]), "the carried state is ignored"


@families_x_configs_x_kinds
def test_beam_search_of_width_one_is_greedy(family: str, config_id: str, kind: str) -> None:
    """Over ``model.step`` from the teacher-forcing start; the beam's log-probability is that
    of the greedy tokens under the model."""
    model = generator_or_skip(make_model(family, config_id, kind))
    batch = make_batch(kind)
    tokens, state = model.teacher_tokens(batch)
    start, L = tokens[:, 0], 7
    with torch.no_grad():
        picked = greedy(model.step, state, start, L)
        beam = beam_search(model.step, state, start, 1, L, None, length_penalty=0.0)
        assert picked.shape == (B, L)
        assert torch.equal(beam.tokens[:, 0], picked)
        assert torch.equal(beam.lengths[:, 0], torch.full((B,), L))
        logits, _ = step_through(model, torch.cat([start[:, None], picked[:, :-1]], 1), state)
    log_p = logits.log_softmax(-1).gather(-1, picked.unsqueeze(-1)).squeeze(-1).sum(-1)
    torch.testing.assert_close(beam.log_probs[:, 0], log_p)


def test_legacy_configs_migrate_to_the_rnn_family() -> None:
    """Model configs of run folders written before families existed (no ``family``)."""
    dilated = {"cell": "dilated", "inner_cell": "gru", "hidden_size": 16, "dilations": [1, 2]}
    assert config_from_json(dilated) == RNNConfig(
        cell="gru", stack="dilated", hidden_size=16, dilations=(1, 2)
    )
    deep = {"cell": "lstm", "inner_cell": None, "skip_connections": True, "num_layers": 2}
    assert config_from_json(deep) == RNNConfig(cell="lstm", stack="deep", num_layers=2)
    plain = {"cell": "lstm", "inner_cell": None, "skip_connections": False}
    assert config_from_json(plain) == RNNConfig(cell="lstm")
    assert config_from_json({"cell": "gru"}) == RNNConfig(cell="gru")
    # with a family the fields are read as they are: the old names are errors
    with pytest.raises(ValueError, match="unknown cell 'dilated'"):
        config_from_json({"family": "rnn", "cell": "dilated"})
    with pytest.raises(ValueError, match="has no option 'skip_connections'"):
        config_from_json({"family": "rnn", "skip_connections": True})


def test_legacy_run_configs_in_the_fixtures_migrate() -> None:
    """Every model config stored by the old-run fixtures loads as the ``rnn`` family."""
    folder = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
    configs = sorted(folder.glob("*/config.json"))
    assert configs
    for path in configs:
        model = json.loads(path.read_text())["model"]
        assert "family" not in model
        config = config_from_json(model)
        assert isinstance(config, RNNConfig)
        assert config.cell == (model.get("inner_cell") or model["cell"])
