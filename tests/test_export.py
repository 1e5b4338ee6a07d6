"""paraspike.export.to_onnx: one step with the state as explicit inputs/outputs, checked with onnxruntime
step by step against PyTorch's multi-step (parallel) run over whole sequences."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paraspike import DSN, reset_net, set_step_mode
from paraspike.neurons.lif import LIF
from paraspike.neurons.psn import PSN, SlidingPSN
from paraspike.nn import MultiStep

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from paraspike.export import run_onnx_sequence, to_onnx  # noqa: E402

NEURONS = {
    "dsn": lambda c: DSN(c),
    "dsn-binary": lambda c: DSN(c, max_spike=1, kernel_size=3),
    "lif-hard": lambda c: LIF(tau=2.0, reset="hard", v_reset=-0.2, v_threshold=0.3),
    "lif-soft": lambda c: LIF(tau=3.0, reset="soft", v_threshold=0.2),
    "sliding-psn": lambda c: SlidingPSN(4),
}


def _network(neuron: str) -> nn.Module:
    make = NEURONS[neuron]
    linear = nn.Linear(4 * 6 * 6, 8)
    with torch.no_grad():
        linear.weight.mul_(6.0)  # strong enough for the second layer of every neuron to fire
    return nn.Sequential(
        MultiStep(nn.Conv2d(2, 4, 3, padding=1)),
        make(4),
        MultiStep(nn.Flatten()),
        MultiStep(linear),
        make(8),
    )


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_onnx_steps_reproduce_the_multi_step_run(neuron, tmp_path):
    torch.manual_seed(0)
    model = _network(neuron).eval()
    x_seq = 2.0 * torch.randn(12, 3, 2, 6, 6) + 1.0
    with torch.no_grad():
        expected = model(x_seq)  # multi-step: the parallel scan / fused kernel
    reset_net(model)
    export = to_onnx(model, x_seq[0], tmp_path / "net.onnx")
    assert export.max_abs_error == 0.0  # the export's own check (random steps)
    onnx.checker.check_model(onnx.load(str(export.path)))
    got = torch.from_numpy(run_onnx_sequence(export, x_seq.numpy()))
    assert expected.sum() > 0 and expected.sum() < expected.numel() * expected.max()  # spikes, not all or none
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert model[1].step_mode == "m"  # the user's model is untouched (a copy was exported)


def test_the_state_is_named_per_layer_and_starts_at_rest(tmp_path):
    model = _network("lif-hard")
    export = to_onnx(model, torch.randn(3, 2, 6, 6), tmp_path / "lif.onnx")
    assert export.state_inputs == ["state_in.1.v", "state_in.4.v"]
    assert export.state_outputs == ["state_out.1.v", "state_out.4.v"]
    assert (export.initial_state["state_in.1.v"] == -0.2).all()  # the hard reset's resting potential
    graph = onnx.load(str(export.path)).graph
    assert [i.name for i in graph.input] == ["x", *export.state_inputs]
    assert export.opset == 17
    dsn = to_onnx(_network("dsn"), torch.randn(3, 2, 6, 6), tmp_path / "dsn.onnx")
    assert dsn.initial_state["state_in.1.history"].shape == (3, 3, 4, 6, 6)  # the last k-1 = 3 inputs


def test_layers_without_a_single_step_are_refused_by_name(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), PSN(8))
    with pytest.raises(ValueError, match="layer '1' is a PSN"):
        to_onnx(model, torch.randn(2, 4), tmp_path / "psn.onnx")

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.neuron = DSN(4)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.neuron(x), x

    with pytest.raises(TypeError, match="one tensor per step"):
        to_onnx(Pair(), torch.randn(2, 4), tmp_path / "pair.onnx")


def test_direct_torch_onnx_export_of_a_single_step_network_points_to_to_onnx(tmp_path):
    model = _network("dsn")
    set_step_mode(model, "s")
    with pytest.raises(RuntimeError, match="paraspike.export.to_onnx"):
        torch.onnx.export(model, (torch.randn(3, 2, 6, 6),), str(tmp_path / "bad.onnx"), dynamo=False)
