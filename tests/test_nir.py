"""paraspike.export.to_nir: NIR graphs of LIF/IF networks, written and read back with nir, simulated
with forward Euler, equal to the PyTorch multi-step run; the DSN and soft resets refused with reasons."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paraspike import DSN
from paraspike.neurons.lif import LIF, PLIF
from paraspike.nn import MultiStep

nir = pytest.importorskip("nir")

from paraspike.export import run_nir, to_nir  # noqa: E402


def _conv_net(neuron: nn.Module, second: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    linear = nn.Linear(4 * 3 * 3, 5)
    with torch.no_grad():
        linear.weight.mul_(20.0)
    return nn.Sequential(
        MultiStep(nn.Conv2d(2, 4, 3, padding=1, stride=2)),
        neuron,
        MultiStep(nn.AvgPool2d(2)),
        MultiStep(nn.Flatten()),
        MultiStep(linear),
        second,
    ).double()


NETWORKS = {
    "lif": lambda: _conv_net(LIF(tau=2.0, v_threshold=0.3), LIF(tau=4.0, v_threshold=0.5, v_reset=-0.1)),
    "lif-no-decay-input": lambda: _conv_net(LIF(tau=3.0, decay_input=False), LIF(tau=2.0, decay_input=False)),
    "plif": lambda: _conv_net(PLIF(init_tau=3.0, v_threshold=0.3), PLIF(init_tau=2.0, v_threshold=0.5)),
    "lif-noreset": lambda: _conv_net(LIF(tau=2.0, reset="none", v_threshold=0.3), LIF(tau=2.0, v_threshold=0.5)),
}


@pytest.mark.parametrize("network", list(NETWORKS))
def test_nir_round_trip_equals_the_pytorch_run(network, tmp_path):
    model = NETWORKS[network]().eval()
    x_seq = 1.5 * torch.randn(16, 3, 2, 12, 12, dtype=torch.float64) + 0.5
    with torch.no_grad():
        expected = model(x_seq)
    graph = to_nir(model, x_seq[0])
    nir.write(tmp_path / "net.nir", graph)
    loaded = nir.read(tmp_path / "net.nir")
    assert set(loaded.nodes) == set(graph.nodes) and sorted(loaded.edges) == sorted(graph.edges)
    got = run_nir(loaded, x_seq)
    assert 0 < expected.sum() < expected.numel()  # the output layer fires, not always
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_spikingjelly_lif_and_if_networks_export(tmp_path):
    pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Linear(6, 8, step_mode="m"),
        neuron.IFNode(step_mode="m", v_threshold=0.5),
        layer.Linear(8, 4, step_mode="m"),
        neuron.LIFNode(tau=3.0, step_mode="m", v_threshold=0.2),
    ).double()
    x_seq = torch.rand(12, 5, 6, dtype=torch.float64) * 2
    with torch.no_grad():
        expected = model(x_seq)
    graph = to_nir(model, x_seq[0])
    assert type(graph.nodes["1"]).__name__ == "IF" and type(graph.nodes["3"]).__name__ == "LIF"
    nir.write(tmp_path / "sj.nir", graph)
    got = run_nir(nir.read(tmp_path / "sj.nir"), x_seq)
    assert expected.sum() > 0
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_what_nir_cannot_express_is_refused_with_the_reason():
    x = torch.randn(2, 4)
    with pytest.raises(ValueError, match="input-dependent leak"):
        to_nir(nn.Sequential(nn.Linear(4, 4), DSN(4)), x)
    with pytest.raises(ValueError, match="soft \\(subtractive\\) reset"):
        to_nir(nn.Sequential(nn.Linear(4, 4), LIF(reset="soft")), x)
    with pytest.raises(TypeError, match="nn.Sequential chains"):
        to_nir(nn.Linear(4, 4), x)
    with pytest.raises(ValueError, match="GELU"):
        to_nir(nn.Sequential(nn.Linear(4, 4), nn.GELU()), x)
