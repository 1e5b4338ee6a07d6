"""The paper's properties of the DSN as executable checks (spec section 1)."""

from __future__ import annotations

import math

import torch

from helpers import assert_spikes_equal_up_to_ties
from paraspike import DSN, linear_scan


def _potentials(neuron: DSN, x_seq: torch.Tensor) -> torch.Tensor:
    neuron.reset()
    neuron.store_h_seq = True
    neuron(x_seq)
    return neuron.h_seq


def test_nonlinearity_superposition_fails_for_dsn_but_holds_for_static_decay():
    x1, x2 = torch.randn(64, 8, 4, dtype=torch.float64), torch.randn(64, 8, 4, dtype=torch.float64)
    dsn = DSN(4).double()
    gap = _potentials(dsn, x1 + x2) - _potentials(dsn, x1) - _potentials(dsn, x2)
    assert gap.abs().max() > 0.1  # H is not linear in the inputs

    static = DSN(4, decay="static").double()
    gap_static = _potentials(static, x1 + x2) - _potentials(static, x1) - _potentials(static, x2)
    assert gap_static.abs().max() < 1e-12  # an input-independent decay is a linear filter


def test_delta_short_control():
    """After a large input, small inputs (< V_th/Delta) stop the neuron firing within Delta steps.

    H_t is a convex combination of H_{t-1} and x_t, so with alpha_t <= alpha_max after the large
    input: H_{t0+n} <= alpha_max**n H_{t0} + max small input. While the large input is still
    inside the decay conv's window (k-1 steps) the decay may be anything in (0, 1) and H only
    mixes with small inputs, so it cannot grow. Delta = (k-1) + the geometric bound, checked on the
    actual spikes.
    """
    neuron = DSN(16, store_h_seq=True)
    small = 0.02
    x_seq = torch.full((300, 2, 16), small)
    x_seq[100] = 50.0
    spikes = neuron(x_seq)
    h_seq = neuron.h_seq
    # the large input drives the neurons whose decay it does not close (input-dependent decay)
    assert spikes[100].sum() > 0 and spikes[99].sum() == 0
    with torch.no_grad():
        neuron.reset()
        log_alpha, _ = neuron._log_decay_and_input(x_seq)
    window = neuron.kernel_size - 1
    alpha_max = log_alpha[101 + window :].exp().max().item()
    assert alpha_max < 1
    peak = h_seq[100 : 101 + window].max().item()
    delta = window + math.ceil(math.log((0.5 - small) / peak) / math.log(alpha_max))
    assert small < neuron.v_threshold / delta
    assert spikes[101 + delta :].sum() == 0
    assert delta < 50


def test_long_control_one_million_steps_stay_bounded():
    """Bounded inputs keep H finite and within the input bound over 10^6 steps (no blow-up)."""
    neuron = DSN(4)
    bound = 3.0
    x_seq = (torch.rand(1_000_000, 1, 4) * 2 - 1) * bound
    with torch.no_grad():
        for chunk in torch.split(x_seq, 250_000):
            neuron.store_h_seq = True
            neuron(chunk)
            h = neuron.h_seq
            assert torch.isfinite(h).all()
            assert h.abs().max().item() <= bound * (1 + 1e-5)


def test_long_control_bound_holds_for_the_scan_with_alpha_near_one():
    """Even with decays within 1e-4 of 1 (long memory), H stays a weighted mean of the inputs."""
    steps = 200_000
    x = torch.rand(steps, 8, dtype=torch.float64) * 2 - 1
    log_alpha = torch.full_like(x, math.log1p(-1e-4))
    h, _ = linear_scan(-torch.expm1(log_alpha) * x, log_alpha)
    assert h.abs().max().item() <= 1.0


def test_c1_one_module_for_any_length_and_prefix_consistency():
    """Same parameters for every length; a prefix's spikes are the full sequence's first spikes."""
    neuron = DSN(5, store_h_seq=True)
    count = sum(p.numel() for p in neuron.parameters())
    x_seq = torch.randn(3000, 2, 5) * 3
    full = neuron(x_seq)
    h_full = neuron.h_seq
    for length in (1, 16, 333, 2999):
        neuron.reset()
        prefix = neuron(x_seq[:length])
        torch.testing.assert_close(neuron.h_seq, h_full[:length], rtol=1e-5, atol=1e-5)
        assert_spikes_equal_up_to_ties(neuron, prefix, full[:length], h_full[:length])
    assert sum(p.numel() for p in neuron.parameters()) == count
