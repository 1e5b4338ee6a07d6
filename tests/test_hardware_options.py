"""Hardware-friendly DSN options: hard-sigmoid and power-of-two decays, int8 decay-conv weights and a
fixed-point state in inference (paraspike.neurons.hardware)."""

from __future__ import annotations

import math

import pytest
import torch

from paraspike import DSN
from paraspike.energy import estimate_energy
from paraspike.neurons.hardware import log_decay, quantize_weight


def _serial(dsn: DSN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dsn.reset()
    dsn.step_mode = "s"
    spikes, potentials = [], []
    for x_t in x.unbind(0):
        spikes.append(dsn(x_t))
        potentials.append(dsn.h)
    dsn.step_mode = "m"
    dsn.reset()
    return torch.stack(spikes), torch.stack(potentials)


@pytest.mark.parametrize("decay_fn", ["hard_sigmoid", "pow2"])
@pytest.mark.parametrize("max_spike", [1, 4])
def test_decay_variants_parallel_equals_serial_and_gradients_flow(decay_fn, max_spike):
    torch.manual_seed(0)
    dsn = DSN(5, decay_fn=decay_fn, max_spike=max_spike, store_h_seq=True).double()
    assert dsn.fused_kernel("cpu") is None  # separate ops around the scan
    x = (2 * torch.randn(40, 3, 5, dtype=torch.float64)).requires_grad_()
    spikes = dsn(x)
    parallel_h = dsn.h_seq.clone()
    serial_spikes, serial_h = _serial(dsn, x.detach())
    torch.testing.assert_close(parallel_h, serial_h)
    assert torch.equal(spikes.detach(), serial_spikes)
    (spikes * torch.randn_like(spikes)).sum().backward()
    grads = [x.grad, dsn.decay_logit.weight.grad, dsn.decay_logit.bias.grad]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_the_decays_are_what_the_options_promise():
    logits = torch.linspace(-6, 6, 101, dtype=torch.float64)
    hard = log_decay(logits, 0.25, "hard_sigmoid").exp()
    expected = torch.clamp(0.5 + logits / 4, 0, 1) ** 4
    torch.testing.assert_close(hard, expected, atol=1e-12, rtol=0)
    one_minus = -torch.expm1(log_decay(logits, 0.25, "pow2"))
    shifts = -torch.log2(one_minus)
    torch.testing.assert_close(shifts, shifts.round(), atol=1e-9, rtol=0)  # 1 - alpha = 2^-s
    assert shifts.min() >= 0 and shifts.max() <= 15
    smooth = -torch.expm1(log_decay(logits, 0.25, "sigmoid"))
    assert ((one_minus / smooth).log2().abs() <= 0.5 + 1e-9).all()  # the nearest power of two (in log2)


def test_int8_weights_take_255_levels_and_keep_the_fused_kernel():
    torch.manual_seed(0)
    w = torch.randn(6, 4, requires_grad=True)
    q = quantize_weight(w, 8)
    for row, original in zip(q.detach(), w.detach(), strict=True):
        step = original.abs().max() / 127
        torch.testing.assert_close(row / step, (row / step).round(), atol=1e-4, rtol=0)
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight through
    dsn = DSN(6, weight_bits=8)
    x = torch.randn(16, 2, 6)
    fused = dsn(x)
    dsn.reset()
    reference = DSN(6, weight_bits=8, backend="naive")
    reference.load_state_dict(dsn.state_dict())
    assert dsn.fused_kernel("cpu") == "cpu" and torch.equal(fused, reference(x))
    with pytest.raises(ValueError, match="weight_bits must be"):
        DSN(4, weight_bits=1)
    with pytest.raises(ValueError, match="decay_fn must be one of"):
        DSN(4, decay_fn="tanh")


def test_fixed_point_state_in_inference_only():
    torch.manual_seed(0)
    dsn = DSN(4, state_frac_bits=6, store_h_seq=True)
    x = 2 * torch.rand(30, 2, 4)
    dsn.train()
    training = dsn(x)
    float_dsn = DSN(4)
    float_dsn.load_state_dict(dsn.state_dict())
    assert torch.equal(training, float_dsn(x))  # training keeps the float state
    dsn.eval()
    dsn.reset()
    spikes = dsn(x)
    h = dsn.h_seq
    torch.testing.assert_close(h * 64, (h * 64).round(), atol=0, rtol=0)  # multiples of 2^-6
    serial_spikes, serial_h = _serial(dsn, x)
    assert torch.equal(spikes, serial_spikes) and torch.equal(h, serial_h)
    float_dsn.store_h_seq = True
    float_dsn.reset()
    float_dsn(x)
    assert (h - float_dsn.h_seq).abs().max() < 2 * 2**-6  # rounding errors decay with alpha < 1


def test_energy_counts_the_cheaper_operations():
    x = torch.rand(4, 2, 3)
    per_step = {}
    for options in ({}, {"decay_fn": "hard_sigmoid"}, {"decay_fn": "pow2"}, {"weight_bits": 8, "state_frac_bits": 8}):
        dsn = DSN(3, **options).eval()
        layer = estimate_energy(dsn, x, batch_dim=1).layers[0]
        per_step[str(options)] = {k: v / layer.neuron_steps for k, v in layer.ops.items()}
    assert per_step["{}"] == {"mac": 4, "sigmoid": 1, "power": 1, "mul": 1, "add": 2, "round": 1, "compare": 2}
    assert per_step["{'decay_fn': 'hard_sigmoid'}"] == {"mac": 5, "compare": 4, "mul": 3, "add": 2, "round": 1}
    assert per_step["{'decay_fn': 'pow2'}"] == {"mac": 4, "compare": 6, "add": 3, "round": 1}
    assert per_step["{'weight_bits': 8, 'state_frac_bits': 8}"] == {
        "mac8": 4,
        "sigmoid": 1,
        "power": 1,
        "mul32": 1,
        "add32": 2,
        "round": 1,
        "compare": 2,
    }
    energies = {}
    for options in ({}, {"decay_fn": "pow2", "weight_bits": 8, "state_frac_bits": 8}):
        energies[len(options)] = estimate_energy(DSN(3, **options).eval(), x, batch_dim=1).energy_uj("neuron")
    assert energies[3] < energies[0] / 10 and not math.isnan(energies[3])
