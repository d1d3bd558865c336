"""``diagnose memory`` on a memory network: each hop's weights over a story and how often a
hop's top sentence is a supporting fact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import rnnlab
from rnnlab import RunConfig, TrainConfig
from rnnlab.cli import main
from rnnlab.diagnostics.memory_hops import hop_attention, supporting_fact_hits
from rnnlab.memory import MemN2NConfig
from rnnlab.tasks.babi import BabiBatch, BabiTask
from rnnlab.tasks.registry import TaskOptions


class _Fixed(nn.Module):
    """Hop weights given in advance (2 hops over 3 sentences)."""

    def __init__(self, weights: Tensor) -> None:
        super().__init__()
        self.weights = weights  # (B, K, S)

    def hop_attention(self, batch: BabiBatch) -> list[Tensor]:
        rows = batch.task  # the row ids, stored in `task` by the fake task below
        return list(self.weights[rows].unbind(1))

    def forward(self, batch: BabiBatch, state: Any = None) -> tuple[Tensor, None]:
        return torch.zeros(batch.y.shape[0], 2), None


class _Split:
    def __init__(self, data: BabiBatch) -> None:
        self.data = data

    def split(self, name: str) -> BabiBatch:
        return self.data


def test_supporting_fact_hits_count_each_hop() -> None:
    support = torch.tensor([[1, 0, 0], [0, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.bool)
    data = BabiBatch(
        story=torch.ones(4, 3, 2, dtype=torch.long),
        query=torch.ones(4, 2, dtype=torch.long),
        y=torch.zeros(4, dtype=torch.long),
        lengths=torch.full((4,), 3),
        support=support,
        task=torch.arange(4),
    )
    weights = torch.tensor(
        [
            [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]],  # hop 1 hits, hop 2 misses
            [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]],  # both hit
            [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]],  # both miss
            [[0.8, 0.1, 0.1], [0.8, 0.1, 0.1]],  # no supporting fact in memory: not counted
        ]
    )
    hits = supporting_fact_hits(_Fixed(weights), _Split(data), batch_size=3)  # type: ignore[arg-type]
    assert hits["questions"] == 3
    assert hits["hop_1"] == pytest.approx(2 / 3) and hits["hop_2"] == pytest.approx(1 / 3)
    assert hits["all_hops"] == pytest.approx(1 / 3) and hits["any_hop"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="story 4 is not in test"):
        hop_attention(_Fixed(weights), _Split(data), "test", 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a memory network"):
        hop_attention(nn.Linear(2, 2), _Split(data), "test", 0)  # type: ignore[arg-type]


def test_diagnose_memory_writes_json_and_figure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = []
    for k in range(30):
        a, b = ("kitchen", "garden", "office")[k % 3], ("hall", "bedroom")[k % 2]
        lines += [
            f"1 John went to the {b}.",
            f"2 Mary went to the {a}.",
            f"3 Where is Mary? \t{a}\t2",
        ]
    for split in ("train", "test"):
        (data / f"qa1_toy_{split}.txt").write_text("\n".join(lines) + "\n")
    config = RunConfig(
        "babi",
        TaskOptions(data=str(data)),
        MemN2NConfig(hidden_size=8, hops=2, linear_start=False),
        TrainConfig(steps=4, batch_size=8, eval_every=4),
    )
    rnnlab.train(config, tmp_path / "run", progress=False)
    out = tmp_path / "diag"
    assert (
        main(
            [
                "diagnose",
                "memory",
                "--run",
                str(tmp_path / "run"),
                "--story",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads((out / "memory_hops.json").read_text())
    assert result["sentences"] == ["john went to the bedroom", "mary went to the garden"]
    assert result["support"] == [1] and result["question"] == "where is mary"
    assert len(result["weights"]) == 2 and all(
        sum(w) == pytest.approx(1) for w in result["weights"]
    )
    assert (out / "memory_hops.png").stat().st_size > 0
    task = BabiTask(str(data))
    assert result["supporting_fact_hits"]["questions"] == task.split("test").y.shape[0]
