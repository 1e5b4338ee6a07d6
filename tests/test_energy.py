"""paraspike.energy: operation counts checked by hand on small networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from paraspike import DSN
from paraspike.energy import COST_TABLES, estimate_energy
from paraspike.neurons.lif import LIF
from paraspike.nn import MultiStep


class _Fixed(nn.Module):
    """Returns a fixed tensor (so the next layer's input is known exactly)."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, _: torch.Tensor) -> torch.Tensor:
        return self.value


def test_linear_on_integer_spikes_counts_each_count_as_binary_spikes():
    spikes = torch.tensor([[1.0, 0.0, 2.0]])
    report = estimate_energy(nn.Sequential(_Fixed(spikes), nn.Linear(3, 4)), torch.zeros(1, 3))
    (layer,) = [r for r in report.layers if r.kind == "synapse"]
    assert layer.ops == {"ac": 12.0}  # (1 + 0 + 2) spikes x fan-out 4
    assert report.energy_uj("synapse") == pytest.approx(12 * 0.9e-6)


@pytest.mark.parametrize(("stride", "expected"), [(1, (1 * 4 + 2 * 9) * 2), (2, (1 * 1 + 2 * 4) * 2)])
def test_conv_fan_out_respects_padding_and_stride(stride, expected):
    spikes = torch.zeros(1, 1, 3, 3)
    spikes[0, 0, 0, 0] = 1.0  # a corner: inside 4 of the 3x3 windows at stride 1 (padding 1), 1 at stride 2
    spikes[0, 0, 1, 1] = 2.0  # the centre, count 2: inside all 9 windows at stride 1, all 4 at stride 2
    conv = nn.Conv2d(1, 2, 3, padding=1, stride=stride)  # x 2 output channels
    report = estimate_energy(nn.Sequential(_Fixed(spikes), conv), torch.zeros(1, 1, 3, 3))
    assert report.layers[0].ops == {"ac": float(expected)}


def test_a_non_spiking_first_layer_costs_multiply_accumulates_per_sample():
    model = nn.Sequential(nn.Linear(3, 4))
    report = estimate_energy(model, torch.randn(2, 3) + 0.5)
    assert report.samples == 2 and report.layers[0].ops == {"mac": 2 * 3 * 4}
    assert report.energy_uj() == pytest.approx(3 * 4 * 4.6e-6)  # per sample
    conv = estimate_energy(nn.Conv2d(2, 3, 3, padding=1, stride=2), torch.randn(1, 2, 5, 5) + 0.5)
    assert conv.layers[0].ops == {"mac": 3 * 3 * 3 * (2 * 3 * 3)}  # outputs 3 x 3x3, fan-in 2 x 3 x 3


def test_neuron_operations_firing_rate_and_energy_of_a_dsn_layer():
    torch.manual_seed(0)
    dsn = DSN(3, kernel_size=4, max_spike=4)
    x = 3 * torch.rand(5, 2, 3)  # [T, B, C]
    with torch.no_grad():
        spikes = dsn(x)
    dsn.reset()
    report = estimate_energy(dsn, x, batch_dim=1)
    (layer,) = report.layers
    steps = 5 * 2 * 3
    assert layer.kind == "neuron" and layer.neuron_steps == steps and report.samples == 2
    assert layer.ops == {
        "mac": 4 * steps,
        "sigmoid": steps,
        "power": steps,
        "mul": steps,
        "add": 2 * steps,
        "round": steps,
        "compare": 2 * steps,
    }
    assert layer.firing_rate == pytest.approx(spikes.sum().item() / (steps * 4))
    per_step = 4.6 * (4 + 8 + 8) + 3.7 + 0.9 * (2 + 1 + 2)
    assert report.energy_uj("neuron") == pytest.approx(steps * per_step / 2 / 1e6)
    binary = estimate_energy(DSN(3, max_spike=1), x, batch_dim=1).layers[0]
    assert binary.ops["compare"] == steps and "round" not in binary.ops and binary.max_spike == 1


def test_a_multi_step_network_splits_synaptic_and_neuron_energy():
    torch.manual_seed(0)
    model = nn.Sequential(MultiStep(nn.Linear(4, 8)), LIF(tau=2.0), MultiStep(nn.Linear(8, 2)))
    x = torch.randn(6, 3, 4) + 1.0
    with torch.no_grad():
        hidden = model[1](model[0](x))
    model[1].reset()
    report = estimate_energy(model, x, cost_table="45nm-int8", batch_dim=1)
    first, neuron, last = report.layers
    assert first.ops == {"mac": 6 * 3 * 4 * 8}
    assert neuron.ops == {"mul": 6 * 3 * 8, "add": 2 * 6 * 3 * 8, "compare": 2 * 6 * 3 * 8}  # hard reset: a select
    assert last.ops == {"ac": hidden.sum().item() * 2}
    assert report.firing_rate() == pytest.approx(hidden.mean().item())
    table = COST_TABLES["45nm-int8"]
    synaptic = (first.ops["mac"] * table["mac"] + last.ops["ac"] * table["ac"]) / 3 / 1e6
    assert report.energy_uj("synapse") == pytest.approx(synaptic)
    assert report.energy_uj() == pytest.approx(report.energy_uj("synapse") + report.energy_uj("neuron"))
    assert "per sample (45nm-int8)" in report.format_table()
    with pytest.raises(ValueError, match="unknown cost table 'tpu'"):
        estimate_energy(model, x, cost_table="tpu")


def test_spike_matmul_counts_accumulates():
    class Attention(nn.Module):
        def forward(self, q: torch.Tensor) -> torch.Tensor:
            return q @ torch.full((3, 5), 0.5)

    q = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    report = estimate_energy(Attention(), q)
    assert report.layers[0].ops == {"ac": 3 * 5}


def test_spikingjelly_layers_are_counted():
    pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import layer, neuron

    model = nn.Sequential(
        layer.Linear(4, 6, step_mode="m"), neuron.LIFNode(step_mode="m"), layer.Linear(6, 2, step_mode="m")
    )
    x = torch.randn(5, 2, 4) + 1.0
    report = estimate_energy(model, x, batch_dim=1)
    first, neuron, last = report.layers
    assert first.ops == {"mac": 5 * 2 * 4 * 6} and neuron.kind == "neuron" and neuron.neuron_steps == 5 * 2 * 6
    assert last.ops.get("ac", 0.0) == pytest.approx(neuron.spikes * 2)
    assert not report.uncounted


def test_energy_command_on_a_config_and_on_a_trained_run(tmp_path, capsys):
    import json

    pytest.importorskip("lightning")
    from paraspike.cli import main
    from paraspike.train import load_config, train

    config = tmp_path / "small.yaml"
    config.write_text(
        "name: small\ndata: {dataset: digits, presentation: row, train_size: 96, test_size: 40, batch_size: 16}\n"
        "model: {options: {channels: 8, hidden: 16}}\ntrainer: {max_epochs: 1, enable_progress_bar: false}\n"
        f"out: {tmp_path / 'runs'}\n"
    )
    main(["energy", str(config), "--batches", "2"])
    printed = capsys.readouterr().out
    assert "untrained" in printed and "32 test samples" in printed and "per sample (45nm-fp32)" in printed
    metrics = train(load_config(config))
    assert metrics["energy"]["total_uj"] > 0 and metrics["energy"]["samples"] == 16  # recorded by every run
    main(["energy", metrics["run_folder"], "--cost-table", "45nm-int8"])
    saved = json.loads((Path(metrics["run_folder"]) / "energy.json").read_text())
    assert saved["checkpoint"].endswith(".ckpt") and saved["cost_table"] == "45nm-int8" and saved["samples"] == 16
    rates = [layer["firing_rate"] for layer in saved["layers"] if layer["kind"] == "neuron"]
    assert rates and all(0 <= r <= 1 for r in rates)
    total = saved["energy_uj_per_sample"]
    assert total["total"] == pytest.approx(total["synaptic"] + total["neuron"]) and total["synaptic"] > 0
    with pytest.raises(SystemExit):
        main(["energy", str(tmp_path / "missing")])
