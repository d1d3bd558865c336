"""The recurrent baseline over story + question: the words packed in order, rows
independent of each other and of padding, and the task's recipe for it."""

from __future__ import annotations

import torch

from rnnlab.memory.story_rnn import StoryRNN, story_tokens
from rnnlab.tasks.babi import BabiBatch


def _batch() -> BabiBatch:
    story = torch.tensor(
        [
            [[3, 4, 0], [5, 0, 0], [0, 0, 0]],
            [[6, 7, 8], [0, 0, 0], [0, 0, 0]],
        ]
    )
    query = torch.tensor([[9, 2, 0], [10, 0, 0]])
    z = torch.zeros(2, dtype=torch.long)
    return BabiBatch(story, query, z, torch.tensor([2, 1]), torch.zeros(2, 3, dtype=torch.bool), z)


def test_story_and_question_are_one_packed_sequence() -> None:
    tokens, lengths = story_tokens(_batch().story, _batch().query)
    assert tokens.tolist() == [[3, 4, 5, 9, 2], [6, 7, 8, 10, 0]]
    assert lengths.tolist() == [5, 4]


def test_rows_are_independent_of_each_other_and_of_padding() -> None:
    torch.manual_seed(0)
    model = StoryRNN(12, 4, hidden_size=6, embedding_size=5).double().eval()
    batch = _batch()
    out, _ = model(batch)
    assert out.shape == (2, 4)
    padded = batch._replace(story=torch.nn.functional.pad(batch.story, (0, 2, 0, 3)))
    torch.testing.assert_close(model(padded)[0], out)
    for b in range(2):
        torch.testing.assert_close(model(batch.rows(slice(b, b + 1)))[0][0], out[b])
