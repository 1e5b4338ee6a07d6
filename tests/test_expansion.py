"""Integer spikes to binary sub-steps and spike-driven execution of integer-spike networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paraspike import (
    DSN,
    MultiStep,
    SpikeDrivenSynapse,
    collapse_spikes,
    expand_spikes,
    reset_net,
    to_spike_driven,
)


def test_expand_is_front_loaded():
    counts = torch.tensor([[0.0, 3.0], [4.0, 1.0]])
    binary = expand_spikes(counts, 4)
    assert binary.shape == (8, 2)
    assert binary[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert binary[:, 1].tolist() == [1, 1, 1, 0, 1, 0, 0, 0]


@pytest.mark.parametrize("max_spike", [1, 2, 4, 7])
def test_collapse_inverts_expand(max_spike):
    counts = torch.randint(0, max_spike + 1, (9, 3, 5)).float()
    binary = expand_spikes(counts, max_spike)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(collapse_spikes(binary, max_spike), counts)


def test_expand_rejects_invalid_counts():
    with pytest.raises(ValueError, match=r"integers in \[0, 4\]"):
        expand_spikes(torch.tensor([[5.0]]), 4)
    with pytest.raises(ValueError, match=r"integers in \[0, 4\]"):
        expand_spikes(torch.tensor([[1.5]]), 4)


def test_collapse_rejects_bad_length():
    with pytest.raises(ValueError, match="must be a multiple of max_spike=4"):
        collapse_spikes(torch.zeros(6, 2), 4)


def test_synapse_rejects_unsupported_layer():
    with pytest.raises(TypeError, match="supports Linear, Conv1d"):
        SpikeDrivenSynapse(nn.LSTM(3, 3), 4)


def _integer_network(max_spike: int, conv: bool) -> nn.Sequential:
    if conv:
        return nn.Sequential(
            MultiStep(nn.Conv2d(2, 4, 3, padding=1)),
            DSN(4, max_spike=max_spike),
            MultiStep(nn.Conv2d(4, 4, 3, padding=1)),
            DSN(4, max_spike=max_spike),
            MultiStep(nn.Flatten()),
            MultiStep(nn.Linear(4 * 5 * 5, 3)),
        )
    return nn.Sequential(
        MultiStep(nn.Linear(6, 16)),
        DSN(16, max_spike=max_spike),
        MultiStep(nn.Linear(16, 16)),
        DSN(16, max_spike=max_spike),
        MultiStep(nn.Linear(16, 5)),
    )


@pytest.mark.parametrize("conv", [False, True], ids=["mlp", "conv"])
@pytest.mark.parametrize("max_spike", [2, 4])
def test_spike_driven_network_equals_integer_network(conv, max_spike):
    model = _integer_network(max_spike, conv).double()
    x_seq = torch.randn(12, 3, *((2, 5, 5) if conv else (6,)), dtype=torch.float64) * 3
    with torch.no_grad():
        expected = model(x_seq)
        reset_net(model)
        driven = to_spike_driven(model)
        synapse_inputs = []
        for module in driven:
            if isinstance(module, SpikeDrivenSynapse):
                module.register_forward_pre_hook(lambda m, args: synapse_inputs.append(args[0]))
        got = driven(x_seq)
    assert sum(isinstance(m, SpikeDrivenSynapse) for m in driven) == 2
    assert len(synapse_inputs) == 2
    for value in synapse_inputs:
        assert set(value.unique().tolist()) <= {0.0, 1.0}
        assert value.shape[0] == 12 * max_spike  # T*N binary sub-steps entered the layer
    assert any(v.sum() > 0 for v in synapse_inputs)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_binary_network_is_left_unchanged():
    model = _integer_network(1, conv=False)
    driven = to_spike_driven(model)
    assert not any(isinstance(m, SpikeDrivenSynapse) for m in driven)
