"""run_spike_driven: every model of paraspike.models runs with binary-only synapses after its input layer,
and computes what the integer-spike run computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paraspike import reset_net
from paraspike.models.registry import build_model
from paraspike.nn import run_spike_driven

MODELS = {  # name: (sample shape, outputs, input, the synaptic calls that read real values)
    "sequential-image": ((4, 1, 28), 10, lambda: 4 * torch.rand(2, 4, 1, 28), {("body.0.layer", "conv1d")}),
    "vgg": ((4, 1, 16, 16), 10, lambda: 4 * torch.rand(2, 4, 1, 16, 16), {("body.0.layer", "conv2d")}),
    "sew-resnet": ((1, 16, 16), 10, lambda: 4 * torch.rand(2, 1, 16, 16), {("body.0.layer", "conv2d")}),
    "spikformer": ((96, 7), 7 * 24, lambda: 3 * torch.randn(2, 96, 7), {("encode.0", "conv2d")}),
    "spikformer-causal": ((96, 7), 7 * 24, lambda: 20 * torch.randn(2, 96, 7), {("embed.0", "linear")}),
    "spiking-ssm-lm": (
        (64,),
        256,
        lambda: torch.randint(0, 256, (2, 64)),
        {("SpikingSSMLM", "matmul")} | {(f"blocks.{i}.ssm", "fft") for i in range(4)},
    ),
    "spiking-actor": ((11,), 3, lambda: torch.randn(2, 11), set()),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_runs_spike_driven_with_the_same_outputs(name):
    shape, outputs, make_input, real = MODELS[name]
    torch.manual_seed(0)
    model = build_model(name, shape, outputs, neuron="dsn").eval()
    x = make_input()
    with torch.no_grad():
        expected = model(x)
    reset_net(model)
    got, report = run_spike_driven(model, x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert {(c.layer, c.op) for c in report.not_spike_driven()} == real
    kinds = report.summary()
    assert kinds.get("binary", 0) + kinds.get("integer", 0) > 0  # synapses on spikes were found
    if name != "spiking-actor":  # its hidden DSNs fire at most once per step here
        assert kinds.get("integer", 0) + kinds.get("scaled", 0) > 0


def test_counts_run_on_binary_planes_only():
    layer = nn.Linear(5, 3)
    counts = torch.tensor([[0.0, 1.0, 4.0, 2.0, 3.0]])
    with torch.no_grad():
        expected = layer(counts)
    got, report = run_spike_driven(layer, counts, audit=True)
    torch.testing.assert_close(got, expected)
    (call,) = report.calls
    assert call.operand == "integer" and call.max_count == 4
    assert call.operand_values == [0.0, 1.0]  # what the op itself received, over its 4 planes
    torch.manual_seed(0)
    model = build_model("sew-resnet", (1, 16, 16), 10, neuron="dsn").eval()
    _, report = run_spike_driven(model, 4 * torch.rand(2, 1, 16, 16), audit=True)
    for call in report.calls:
        if call.operand != "real":
            assert set(call.operand_values) <= {0.0, 1.0}, call


def test_spike_matmuls_average_pooling_and_strict_mode():
    q = torch.tensor([[2.0, 0.0, 1.0], [3.0, 1.0, 0.0]])
    k = torch.tensor([[1.0, 2.0], [0.0, 4.0], [1.0, 1.0]])

    class Attention(nn.Module):
        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return a @ k

    got, report = run_spike_driven(Attention(), q)
    assert torch.equal(got, q @ k) and report.calls[0].operand == "integer"
    pool = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(1, 2, 1))
    spikes = torch.randint(0, 3, (1, 1, 4, 4)).float()
    with torch.no_grad():
        expected = pool(spikes)
    got, report = run_spike_driven(pool, spikes)
    torch.testing.assert_close(got, expected)
    assert report.calls[0].operand == "scaled" and report.calls[0].divisor == 4
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match="layer '0' \\(linear\\) receives real-valued input"):
        run_spike_driven(model, x, strict=True)
    with pytest.raises(ValueError, match="layer '2'"):
        run_spike_driven(model, x, strict=True, allow_real=("0",))


def test_spikingjelly_layers_run_spike_driven():
    pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import layer

    from paraspike import DSN

    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Conv2d(1, 4, 3, padding=1, step_mode="m"),
        DSN(4),
        layer.Flatten(step_mode="m"),
        layer.Linear(64, 3, step_mode="m"),
    ).eval()
    x = 3 * torch.rand(5, 2, 1, 4, 4)
    with torch.no_grad():
        expected = model(x)
    reset_net(model)
    got, report = run_spike_driven(model, x, strict=True, allow_real=("0",), audit=True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    (linear,) = [c for c in report.calls if c.layer == "3"]
    assert linear.operand == "integer" and linear.operand_values == [0.0, 1.0]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("neuron", ["dsn", "lif"])
def test_energy_counts_every_model(name, neuron):
    from paraspike.energy import estimate_energy

    shape, outputs, make_input, _ = MODELS[name]
    torch.manual_seed(0)
    model = build_model(name, shape, outputs, neuron=neuron).eval()
    report = estimate_energy(model, make_input(), batch_dim=0)
    neurons = [layer for layer in report.layers if layer.kind == "neuron"]
    assert neurons and all(layer.ops for layer in neurons)  # every neuron layer counted by kind
    assert report.energy_uj("synapse") > 0 and report.energy_uj("neuron") > 0
    assert report.energy_uj() == pytest.approx(report.energy_uj("synapse") + report.energy_uj("neuron"))
    assert 0 <= report.firing_rate() <= 1
