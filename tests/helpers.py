"""Assertions shared by the test files."""

from __future__ import annotations

import torch

from paraspike import DSN


def _near_rounding_boundary(h: torch.Tensor, neuron: DSN, tol: float) -> torch.Tensor:
    """Where H/V_th is within tol of a firing boundary k + 0.5 (k = 0..N-1)."""
    x = h / neuron.v_threshold
    boundary = torch.floor(x) + 0.5
    in_range = (x > -tol) & (x < neuron.max_spike + tol)
    return in_range & ((x - boundary).abs() < tol)


def assert_spikes_equal_up_to_ties(neuron, spikes_a, spikes_b, h, tol=1e-4, max_fraction=1e-3):
    """Spikes agree except where H lies within float error of a rounding boundary.

    A reset-free neuron's spike at t depends on H_t only, so a tie at one step cannot spread to
    later steps; mismatches are allowed only at positions where |H/V_th - (k + 1/2)| < tol, and
    they must be rare.
    """
    differ = spikes_a != spikes_b
    assert not (differ & ~_near_rounding_boundary(h, neuron, tol)).any(), "spike mismatch away from a tie"
    assert differ.float().mean().item() <= max_fraction
    assert (spikes_a - spikes_b).abs().max().item() <= 1
