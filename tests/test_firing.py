"""Firing functions: values, half-up rounding, straight-through and surrogate gradients."""

from __future__ import annotations

import math

import pytest
import torch

from paraspike.ops import binary_fire, integer_fire, spike_fire
from paraspike.ops.firing import surrogate_gradient


def test_integer_fire_values_and_clipping():
    h = torch.tensor([-3.0, 0.0, 0.49, 0.5, 1.2, 2.5, 3.49, 3.5, 9.0])
    assert integer_fire(h, 1.0, 4).tolist() == [0, 0, 0, 1, 1, 3, 3, 4, 4]


def test_integer_fire_scales_with_threshold():
    h = torch.linspace(-1, 12, 101)
    torch.testing.assert_close(integer_fire(h, 2.5, 3), integer_fire(h / 2.5, 1.0, 3))


def test_integer_fire_straight_through_gradient_window():
    h = torch.tensor([-0.1, 0.0, 2.0, 4.0, 4.1], requires_grad=True)
    integer_fire(h, 2.0, 2).sum().backward()
    # x = h / 2 in [0, 2] passes 1/V_th, outside zero
    assert h.grad.tolist() == [0.0, 0.5, 0.5, 0.5, 0.0]


def test_binary_equals_integer_with_one_spike():
    h = torch.linspace(-2, 3, 1001)
    torch.testing.assert_close(binary_fire(h, 1.3), integer_fire(h, 1.3, 1))


@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "rect"])
def test_surrogates_integrate_to_one(surrogate):
    z = torch.linspace(-200, 200, 400001, dtype=torch.float64)
    area = torch.trapezoid(surrogate_gradient(z, surrogate, 2.0), z).item()
    tolerance = {"atan": 0.01, "sigmoid": 1e-3, "rect": 5e-3}[surrogate]  # atan: heavy tails; rect: grid step
    assert abs(area - 1) < tolerance


@pytest.mark.parametrize("surrogate,alpha,peak", [("atan", 2.0, 1.0), ("sigmoid", 4.0, 1.0), ("rect", 1.0, 1.0)])
def test_binary_surrogate_gradient_at_threshold(surrogate, alpha, peak):
    h = torch.tensor([0.5, 5.0], requires_grad=True)
    binary_fire(h, 1.0, surrogate, alpha).sum().backward()
    assert h.grad[0].item() == pytest.approx(peak)
    assert h.grad[1].item() < 0.05


def test_atan_formula_and_threshold_scaling():
    h = torch.tensor([1.7], requires_grad=True)
    binary_fire(h, 2.0, "atan", 3.0).sum().backward()
    z = 1.7 / 2.0 - 0.5
    expected = (3.0 / 2) / (1 + (math.pi / 2 * 3.0 * z) ** 2) / 2.0
    assert h.grad.item() == pytest.approx(expected, rel=1e-6)


def test_spike_fire_dispatches_on_max_spike():
    h = torch.tensor([0.2, 0.7, 2.2], requires_grad=True)
    assert spike_fire(h, 1.0, 1).tolist() == [0, 1, 1]
    assert spike_fire(h, 1.0, 3).tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda h: integer_fire(h, 0.0, 4), "v_threshold must be a finite number > 0"),
        (lambda h: integer_fire(h, 1.0, 0), "max_spike must be an int >= 1"),
        (lambda h: binary_fire(h, 1.0, "gauss"), "unknown surrogate 'gauss'"),
        (lambda h: binary_fire(h, 1.0, "atan", -1.0), "surrogate alpha must be > 0"),
    ],
)
def test_firing_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.zeros(3))
