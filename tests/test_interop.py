"""Working beside SpikingJelly and snnTorch, and the errors a new user meets (issue 10, items 4, 5, 10-12)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paraspike import DSN, MultiStep, SpikeDrivenSynapse, detach_net, reset_net, set_step_mode, to_spike_driven
from paraspike.neurons import LIF, PSN, build_neuron

sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import layer as sj_layer  # noqa: E402
from spikingjelly.activation_based import neuron as sj_neuron  # noqa: E402


def _mixed_model() -> nn.Sequential:
    return nn.Sequential(
        MultiStep(nn.Linear(3, 8)), DSN(8), sj_layer.Linear(8, 8, step_mode="m"), sj_neuron.LIFNode(step_mode="m")
    )


def test_reset_net_resets_spikingjelly_neurons_in_a_mixed_model():
    model = _mixed_model()
    model(torch.randn(5, 2, 3) * 4)
    sj_lif = model[3]
    assert isinstance(sj_lif.v, torch.Tensor)  # it holds a state
    reset_net(model)
    assert model[1].state is None
    assert sj_lif.v == 0.0  # SpikingJelly's reset value


def test_detach_net_detaches_spikingjelly_state_too():
    model = _mixed_model()
    model(torch.randn(5, 2, 3, requires_grad=True) * 4)
    assert model[1].h.grad_fn is not None and model[3].v.grad_fn is not None
    detach_net(model)
    assert model[1].h.grad_fn is None and model[3].v.grad_fn is None


def test_set_step_mode_reaches_spikingjelly_modules():
    model = _mixed_model()
    set_step_mode(model, "s")
    assert {m.step_mode for m in (model[0], model[1], model[2], model[3])} == {"s"}
    out = torch.stack([model(x) for x in torch.randn(4, 2, 3)])
    assert out.shape == (4, 2, 8)


def test_reset_net_resets_snntorch_neurons():
    snn = pytest.importorskip("snntorch")
    leaky = snn.Leaky(beta=0.5, init_hidden=True)
    model = nn.Sequential(nn.Linear(3, 4), leaky)
    model(torch.randn(2, 3) * 5)
    assert leaky.mem.abs().sum() > 0
    reset_net(model)
    assert leaky.mem.abs().sum() == 0


def test_to_spike_driven_handles_spikingjelly_layers():
    model = nn.Sequential(
        sj_layer.Linear(6, 16, step_mode="m"),
        DSN(16),
        sj_layer.Linear(16, 16, step_mode="m"),
        DSN(16),
        sj_layer.SeqToANNContainer(nn.Linear(16, 5)),
    ).double()
    x = torch.randn(7, 3, 6, dtype=torch.float64) * 3
    with torch.no_grad():
        expected = model(x)
        reset_net(model)
        driven = to_spike_driven(model)
        got = driven(x)
    assert sum(isinstance(m, SpikeDrivenSynapse) for m in driven) == 2
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_to_spike_driven_refuses_what_it_cannot_convert_and_names_it():
    model = nn.Sequential(MultiStep(nn.Linear(3, 8)), DSN(8), MultiStep(nn.BatchNorm1d(8)), MultiStep(nn.Linear(8, 2)))
    with pytest.raises(ValueError, match=r"position 1 \(DSN, max_spike=4\) feeds position 2 \(MultiStep\)"):
        to_spike_driven(model)


def test_multistep_validates_step_mode_and_names_the_layout():
    with pytest.raises(ValueError, match="step_mode must be 'm'"):
        MultiStep(nn.Linear(3, 4), step_mode="single")
    layer = MultiStep(nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"expects time first, \[T, B, \.\.\.\].*use step_mode='s'"):
        layer(torch.randn(2, 3))  # one step [B, F], no time dimension
    conv = MultiStep(nn.Conv2d(2, 4, 3))
    with pytest.raises(ValueError, match=r"5 dimensions for Conv2d"):
        conv(torch.randn(2, 2, 8, 8))
    with pytest.raises(ValueError, match="step_mode must be"):
        set_step_mode(nn.Sequential(layer), "x")


@pytest.mark.parametrize("name", ["dsn", "lif"])
def test_a_second_backward_through_a_carried_state_points_at_reset_net(name):
    neuron = build_neuron(name, channels=4)
    x = torch.randn(6, 2, 4, requires_grad=True)
    neuron(x).sum().backward()
    # raised by the next forward (when the state's graph shows freed tensors) or, for the fused kernel
    # (a C++ autograd node that does not expose them), by its backward: either way the message says what to do
    with pytest.raises(RuntimeError, match=r"(?s)reset_net\(model\).*detach_net\(model\)"):
        neuron(x).sum().backward()
    neuron.reset()
    neuron(x).sum().backward()
    neuron.detach()  # truncated BPTT: keep the state, cut the graph
    neuron(x).sum().backward()
    reset_net(neuron)
    neuron(x).sum().backward()


def test_a_second_backward_through_a_carried_single_step_state_points_at_reset_net():
    neuron = DSN(4, step_mode="s")  # on the fused kernel when it builds: its backward explains the error
    x = torch.randn(2, 4, requires_grad=True)
    neuron(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"(?s)reset_net\(model\).*detach_net\(model\)"):
        neuron(x).sum().backward()
    neuron.detach()
    neuron(x).sum().backward()


def test_carrying_state_within_one_graph_is_allowed():
    neuron = DSN(4)
    x = torch.randn(6, 2, 4, requires_grad=True)
    total = neuron(x[:3]).sum() + neuron(x[3:]).sum()  # two chunks of one sequence, one backward
    total.backward()
    assert x.grad is not None


def test_torchscript_script_is_refused_with_a_clear_message():
    for module in (DSN(4), LIF(), PSN(4), nn.Sequential(nn.Linear(4, 4), DSN(4))):
        with pytest.raises(RuntimeError, match="do not support torch.jit.script.*torch.jit.trace"):
            torch.jit.script(module)


def test_surrogate_on_an_integer_dsn_warns_that_it_is_ignored():
    with pytest.warns(UserWarning, match="surrogate='sigmoid' is ignored"):
        DSN(4, max_spike=4, surrogate="sigmoid")
    with pytest.warns(UserWarning, match="surrogate_alpha=3.0 is ignored"):
        DSN(4, max_spike=2, surrogate_alpha=3.0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DSN(4, max_spike=1, surrogate="sigmoid")
        DSN(4)
