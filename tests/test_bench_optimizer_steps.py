"""The training-step timer of the benchmarks: k steps, each with its clip when asked."""

import torch
from torch import nn

from rnnlab.bench.timing import optimizer_steps


def _model_and_loss():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x = torch.randn(8, 3)
    return model, x, lambda: (model(x) * 100.0).pow(2).mean()


def test_each_call_takes_k_plain_sgd_steps():
    model, x, loss = _model_and_loss()
    expected = nn.Linear(3, 1)
    expected.load_state_dict(model.state_dict())
    for _ in range(3):  # by hand: w <- w - lr * grad, three times
        expected.zero_grad()
        (expected(x) * 100.0).pow(2).mean().backward()
        with torch.no_grad():
            for p in expected.parameters():
                p -= 1e-4 * p.grad
    optimizer_steps(torch.optim.SGD(model.parameters(), lr=1e-4), loss, steps=3)()
    for ours, theirs in zip(model.parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_clip_bounds_the_step_by_the_rate_times_the_clip():
    model, _, loss = _model_and_loss()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    optimizer_steps(torch.optim.SGD(model.parameters(), lr=1.0), loss, clip=0.5)()
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert abs(float((after - before).norm()) - 0.5) < 1e-5  # the raw gradient is far larger
