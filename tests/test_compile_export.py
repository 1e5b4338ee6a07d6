"""torch.compile, torch.export, torch.jit.trace and torch.onnx.export on models with DSNs (issue 10,
items 2 and 10; issue 11: the CPU kernels as custom ops)."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from paraspike import DSN, MultiStep, reset_net
from paraspike.kernels.cpu import cpu_kernel_unavailable_reason

needs_kernel = pytest.mark.skipif(
    cpu_kernel_unavailable_reason(torch.device("cpu")) is not None, reason="CPU kernel unavailable"
)


def _model(decay: str = "causal_conv", conv: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    if conv:
        return nn.Sequential(
            MultiStep(nn.Conv2d(2, 4, 3, padding=1)),
            DSN(4, decay=decay),
            MultiStep(nn.Conv2d(4, 4, 3, padding=1)),
            DSN(4, max_spike=1, decay=decay),
            MultiStep(nn.Flatten()),
            MultiStep(nn.Linear(4 * 5 * 5, 3)),
        )
    return nn.Sequential(
        MultiStep(nn.Linear(3, 8)),
        DSN(8, decay=decay),
        MultiStep(nn.Linear(8, 8)),
        DSN(8, max_spike=1, decay=decay),
        MultiStep(nn.Linear(8, 2)),
    )


def _input(conv: bool = False) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(6, 4, *((2, 5, 5) if conv else (3,))) * 3


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


@needs_kernel
def test_custom_cpu_ops_pass_opcheck():
    from paraspike.kernels.cpu import cpu_kernels

    cpu_kernels()
    x = torch.randn(5, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    history = torch.randn(3, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    for args in [(x, None, None), (x, history, h0)]:
        torch.library.opcheck(torch.ops.paraspike.dsn_cpu.default, (*args, weight, bias, 0.25, 1.0, 4, 0, 2.0, True))
    u = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    g = -torch.rand(7, 5, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(torch.ops.paraspike.scan_cpu.default, (u, g, torch.randn(5, dtype=torch.float64)))


@needs_kernel
def test_torch_compile_fullgraph_with_the_default_backend_matches_eager():
    model, x = _model(), _input()
    expected = model(x)
    expected.sum().backward()
    eager_grads = _grads(model)
    model.zero_grad()
    reset_net(model)
    compiled = torch.compile(model, fullgraph=True)  # inductor: a graph break would raise
    got = compiled(x)
    got.sum().backward()
    torch.testing.assert_close(got, expected)
    for a, b in zip(_grads(model), eager_grads, strict=True):
        torch.testing.assert_close(a, b)


@needs_kernel
def test_torch_export_sees_one_op_per_dsn_and_reproduces_the_model():
    model, x = _model(), _input()
    expected = model(x)
    reset_net(model)
    program = torch.export.export(model, (x,))
    calls = [str(n.target) for n in program.graph.nodes if n.op == "call_function" and "paraspike" in str(n.target)]
    assert calls == ["paraspike.dsn_cpu.default"] * 2
    torch.testing.assert_close(program.module()(x), expected)


@needs_kernel
def test_jit_trace_with_gradients_matches_eager():
    model = _model(conv=True)
    x = _input(conv=True).requires_grad_()
    expected = model(x)
    reset_net(model)
    traced = torch.jit.trace(model, (x,))
    assert "paraspike::dsn_cpu" in str(traced.inlined_graph)
    torch.testing.assert_close(traced(x), expected)
    torch.testing.assert_close(traced(x), expected)  # every call starts from a zero state
    traced(x).sum().backward()
    assert x.grad is not None and model[0].layer.weight.grad is not None


def test_tracing_a_stateful_or_single_step_neuron_is_refused_with_a_clear_error():
    model, x = _model(), _input()
    model(x)  # leaves a state behind
    with pytest.raises(RuntimeError, match=r"holds a state.*reset_net"):
        torch.jit.trace(model, (x,))
    reset_net(model)
    for module in model.modules():
        if hasattr(module, "step_mode"):
            module.step_mode = "s"
    with pytest.raises(RuntimeError, match=r"single-step DSN would restart.*paraspike.export.to_onnx"):
        torch.jit.trace(model, (x[0],))


@pytest.mark.parametrize("decay, conv", [("causal_conv", False), ("causal_conv", True), ("fc", False)])
def test_torchscript_onnx_export_is_the_unrolled_serial_network_and_onnxruntime_agrees(decay, conv):
    ort = pytest.importorskip("onnxruntime")
    model, x = _model(decay, conv), _input(conv)
    with torch.no_grad():
        expected = model(x)
        reset_net(model)
        buffer = io.BytesIO()
        torch.onnx.export(model, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"])
    session = ort.InferenceSession(buffer.getvalue())
    assert [i.name for i in session.get_inputs()] == ["x"]
    (got,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), expected, atol=1e-5, rtol=1e-4)


def test_torchscript_onnx_export_of_a_stateful_model_is_refused():
    model, x = _model(), _input()
    model(x)
    with pytest.raises(RuntimeError, match="holds a state"):
        torch.onnx.export(model, (x,), io.BytesIO(), dynamo=False)
