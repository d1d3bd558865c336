"""The uRNN's modReLU on real parts equals the complex modReLU where |z| >= eps."""

from __future__ import annotations

import torch

from rnnlab.cells.constrained import MODRELU_EPS, complex_modrelu, modrelu_scale


def test_equals_the_complex_modrelu_in_value_and_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    re = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    im = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(7, generator=g, dtype=torch.float64, requires_grad=True)
    assert bool((torch.complex(re, im).abs() > MODRELU_EPS).all())
    ours = modrelu_scale(re, im, bias)
    out = torch.cat([re * ours, im * ours], -1)
    ref = complex_modrelu(torch.complex(re, im), bias)
    expected = torch.cat([ref.real, ref.imag], -1)
    torch.testing.assert_close(out, expected)
    weights = torch.randn(out.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), (re, im, bias))
    ref_grads = torch.autograd.grad((expected * weights).sum(), (re, im, bias))
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b)
    # a negative bias larger than |z| zeroes the unit (relu), a positive one scales it up
    assert float(modrelu_scale(torch.tensor([0.3]), torch.tensor([0.4]), torch.tensor([-1.0]))) == 0
    assert float(modrelu_scale(torch.tensor([0.3]), torch.tensor([0.4]), torch.tensor([0.5]))) == 2


def test_finite_at_zero() -> None:
    re = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    im = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    scale = modrelu_scale(re, im, torch.full((3,), 0.1, dtype=torch.float64))
    (re * scale + im * scale).sum().backward()
    assert torch.isfinite(scale).all() and torch.isfinite(re.grad).all()  # type: ignore[arg-type]
