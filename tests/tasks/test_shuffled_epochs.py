"""The training batches of a fixed split: shuffled epochs, a pure function of seed and step."""

import torch

from rnnlab.tasks.base import shuffled_epoch_rows


def test_each_epoch_draws_every_row_once_and_a_new_order():
    size, batch = 10, 3  # 3 batches per epoch, one row left out each epoch
    epochs = [
        torch.cat([shuffled_epoch_rows(size, 7, e * 3 + k, batch) for k in range(3)])
        for e in range(2)
    ]
    for rows in epochs:
        assert rows.numel() == 9 and rows.unique().numel() == 9
        assert int(rows.min()) >= 0 and int(rows.max()) < size
    assert not torch.equal(epochs[0], epochs[1])


def test_the_rows_depend_on_seed_and_step_only():
    first = shuffled_epoch_rows(100, 3, 41, 8)
    assert torch.equal(first, shuffled_epoch_rows(100, 3, 41, 8))
    assert not torch.equal(first, shuffled_epoch_rows(100, 4, 41, 8))
    assert not torch.equal(first, shuffled_epoch_rows(100, 3, 42, 8))


def test_a_batch_larger_than_the_split_takes_the_whole_split():
    rows = shuffled_epoch_rows(5, 0, 2, 32)
    assert sorted(rows.tolist()) == list(range(5))
