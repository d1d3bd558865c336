"""Professor forcing: the discriminator, the generator's gradient, resume, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.cli import main
from rnnlab.layers import build_layers
from rnnlab.models import LanguageModel
from rnnlab.tasks.base import Batch
from rnnlab.training.professor_forcing import (
    Discriminator,
    ProfessorForcing,
    behaviour_size,
    discriminator_loss,
    free_running_run,
    generator_term,
    teacher_forced_run,
)


def tiny_lm(seed: int = 0, cell: str = "lstm") -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(7, build_layers(cell, 5, 6))


def test_discriminator_separates_two_obviously_different_inputs() -> None:
    torch.manual_seed(0)
    d = Discriminator(3, hidden_size=8, mlp_size=8)
    optimizer = torch.optim.Adam(d.parameters(), lr=3e-2)
    wave = torch.sin(torch.arange(6.0))[None, :, None].expand(8, 6, 3)
    a = wave + 0.1 * torch.randn(8, 6, 3)
    b = -wave + 0.1 * torch.randn(8, 6, 3)
    first, accuracy = discriminator_loss(d, a, b)
    for _ in range(30):
        loss, accuracy = discriminator_loss(d, a, b)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert accuracy == 1.0 and float(loss.detach()) < 0.1 * float(first.detach())
    with torch.no_grad():
        assert bool((torch.sigmoid(d(a)) > 0.9).all()) and bool((torch.sigmoid(d(b)) < 0.1).all())
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        d(torch.zeros(2, 4, 5))


def test_forward_hidden_matches_step_hidden_and_forward() -> None:
    lm = tiny_lm().double().eval()
    x = torch.randint(7, (3, 6))
    logits, hidden, _ = lm.forward_hidden(x)
    torch.testing.assert_close(logits, lm(Batch(x))[0])
    state = None
    for t in range(6):
        z, h, state = lm.step_hidden(x[:, t], state)
        torch.testing.assert_close(z, logits[:, t])
        torch.testing.assert_close(h, hidden[:, t])
    assert behaviour_size(lm) == 6


def test_free_running_feeds_its_own_samples_and_equals_teacher_forcing_on_them() -> None:
    lm = tiny_lm().double().eval()
    start = torch.randint(7, (4,))
    logits, hidden, tokens = free_running_run(lm, start, 9, None, torch.Generator().manual_seed(1))
    assert tokens.shape == (4, 9) and torch.equal(tokens[:, 0], start)
    tf_logits, tf_hidden, _ = teacher_forced_run(lm, tokens)
    torch.testing.assert_close(logits, tf_logits)
    torch.testing.assert_close(hidden, tf_hidden)


class StepOnly(nn.Module):
    """A generator exposing nothing but ``step``: the behaviour is its flattened state."""

    def __init__(self, lm: LanguageModel) -> None:
        super().__init__()
        self.lm = lm

    def step(self, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self.lm.step(token, state)


def test_a_model_with_only_step_uses_its_state_as_behaviour() -> None:
    lm = tiny_lm().double().eval()
    model = StepOnly(lm)
    assert behaviour_size(model) == 12  # LSTM (h, c)
    x = torch.randint(7, (2, 5))
    logits, behaviour, state = teacher_forced_run(model, x)
    torch.testing.assert_close(logits, lm(Batch(x))[0])
    torch.testing.assert_close(behaviour[:, -1], torch.cat([state.h, state.c], -1))


def test_generator_gradient_flows_through_the_free_running_states() -> None:
    lm = tiny_lm().double()
    d = Discriminator(6, 4, 4).double()
    start = torch.randint(7, (3,))
    _, hidden, tokens = free_running_run(lm, start, 6, None, torch.Generator().manual_seed(2))
    generator_term(d, hidden).backward()
    assert all(p.grad is None for p in d.parameters())  # the discriminator is not trained
    for name, p in lm.named_parameters():
        if name.startswith("head."):  # not through the sampled tokens
            assert p.grad is None
        else:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    # the same as back-propagating through a teacher-forced run on the sampled tokens
    grads = {n: p.grad.clone() for n, p in lm.named_parameters() if p.grad is not None}
    lm.zero_grad()
    generator_term(d, teacher_forced_run(lm, tokens)[1]).backward()
    for n, g in grads.items():
        torch.testing.assert_close(dict(lm.named_parameters())[n].grad, g)


def test_generator_term_gradcheck() -> None:
    torch.manual_seed(3)
    d = Discriminator(3, 4, 4).double()
    b = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: generator_term(d, x), (b,))


def gradients(x: Tensor, weight: float | None) -> tuple[dict[str, Tensor], Tensor | None]:
    """The generator's gradients on ``x`` with professor forcing of ``weight`` (gate open),
    or by teacher forcing alone (``None``)."""
    lm = tiny_lm(seed=4)
    adversarial = None
    if weight is None:
        logits = lm(Batch(x))[0]
    else:
        pf = ProfessorForcing(6, weight=weight, hidden_size=4, mlp_size=4, g_min_accuracy=0.0)
        logits, _, adversarial = pf.forward(lm, x)
    nll = nn.functional.cross_entropy(logits.flatten(0, 1), x.roll(-1, 1).flatten())
    (nll if adversarial is None else nll + adversarial).backward()
    return {n: p.grad.clone() for n, p in lm.named_parameters() if p.grad is not None}, adversarial


def test_weight_zero_is_teacher_forcing_and_weight_one_adds_the_term() -> None:
    x = torch.randint(7, (4, 6), generator=torch.Generator().manual_seed(5))
    teacher, _ = gradients(x, None)
    zero, adversarial = gradients(x, 0.0)
    assert adversarial is not None and float(adversarial) == 0.0
    assert not adversarial.requires_grad
    assert zero.keys() == teacher.keys()
    for name, g in teacher.items():
        assert torch.equal(zero[name], g), name
    one, adversarial = gradients(x, 1.0)
    assert adversarial is not None and float(adversarial.detach()) > 0
    differs = [n for n in teacher if not torch.allclose(one[n], teacher[n])]
    assert {"embedding.weight", "layers.cell.weight_ih", "layers.cell.weight_hh"} <= set(differs)
    assert not any(n.startswith("head.") for n in differs)  # not through the samples


def pf_config(steps: int) -> RunConfig:
    return RunConfig(
        task="hmm",
        task_options=TaskOptions(T=6),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(
            steps=steps,
            batch_size=8,
            eval_every=3,
            professor_forcing=True,
            pf_hidden=4,
            pf_mlp=4,
            pf_g_min_acc=0.0,
        ),
    )


def test_resume_restores_the_discriminator_exactly(tmp_path: Path) -> None:
    rnnlab.train(pf_config(6), tmp_path / "full", progress=False)
    rnnlab.train(pf_config(3), tmp_path / "split", progress=False)
    rnnlab.train(pf_config(6), tmp_path / "split", resume=True, progress=False)
    full = torch.load(tmp_path / "full" / "trainer.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "trainer.pt", weights_only=True)
    for name, value in full["professor_forcing"]["discriminator"].items():
        assert torch.equal(split["professor_forcing"]["discriminator"][name], value), name
    adam_full = full["professor_forcing"]["optimizer"]["state"]
    adam_split = split["professor_forcing"]["optimizer"]["state"]
    assert adam_full[0]["step"] == adam_split[0]["step"]
    for k, v in adam_full.items():
        assert torch.equal(adam_split[k]["exp_avg_sq"], v["exp_avg_sq"])
    weights = load_file(str(tmp_path / "full" / "last.safetensors"))
    resumed = load_file(str(tmp_path / "split" / "last.safetensors"))
    for name, value in weights.items():
        assert torch.equal(resumed[name], value), name

    def train_lines(run: str) -> list[dict[str, Any]]:
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["split"] == "train"]

    keys = ("loss", "pf_d_accuracy", "pf_d_loss", "pf_g_loss")
    a, b = train_lines("full"), train_lines("split")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    assert a[-1]["pf_g_used"] == 1.0


def test_professor_forcing_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pf"
    argv = ["train", "hmm", "--T", "8", "--hidden", "8", "--steps", "4", "--eval-every", "2"]
    argv += ["--professor-forcing", "--pf-weight", "0.5", "--pf-hidden", "8", "--pf-mlp", "8"]
    argv += ["--pf-lr", "3e-3", "--pf-g-min-acc", "0", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())["train"]
    assert config["professor_forcing"] is True and config["pf_weight"] == 0.5
    assert config["pf_lr"] == 3e-3 and config["pf_hidden"] == 8
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["split"] == "train"]
    assert len(train) == 2 and all(0.0 <= r["pf_d_accuracy"] <= 1.0 for r in train)
    assert all(r["pf_g_used"] == 1.0 and r["pf_g_loss"] > 0 for r in train)
    capsys.readouterr()
    both = ["train", "hmm", "--professor-forcing", "--scheduled-sampling", "linear"]
    assert main([*both, "--out", str(tmp_path / "x")]) == 2
    assert "mutually exclusive" in capsys.readouterr().err
    assert main(["train", "copy", "--professor-forcing", "--out", str(tmp_path / "y")]) == 2
    assert "generative model" in capsys.readouterr().err
    assert main(["train", "hmm", "--professor-forcing", "--pf-weight", "-1"]) == 2
    assert "pf_weight" in capsys.readouterr().err
