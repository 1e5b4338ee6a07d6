"""Inputs at the edges: non-finite values, empty batches and spatial dimensions, every dtype (issue 10,
items 1, 8, 9). Every backend and both step modes must agree on each."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from paraspike import DSN
from paraspike.kernels.cpu import cpu_kernel_unavailable_reason
from paraspike.neurons import DECAY_GENERATORS

HAS_KERNEL = cpu_kernel_unavailable_reason(torch.device("cpu")) is None
HAS_TRITON = importlib.util.find_spec("triton") is not None
BACKENDS = ["naive", "chunked"] + (["cpu"] if HAS_KERNEL else []) + (["triton"] if HAS_TRITON else [])
# Triton runs on CUDA tensors, or on the CPU in its interpreter (conftest.py imports it that way)
TRITON_DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _device(backend: str) -> torch.device:
    return TRITON_DEVICE if backend == "triton" else torch.device("cpu")


@pytest.fixture
def backend(request, monkeypatch):
    if request.param == "triton" and TRITON_DEVICE.type == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")  # the CPU runs Triton kernels only in its interpreter
    return request.param


def _run(neuron: DSN, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Spikes on the CPU of ``neuron`` (moved to its backend's device) for ``x``, in step mode ``mode``."""
    device = _device(neuron.backend)
    neuron.to(device).reset()
    neuron.step_mode = mode
    x = x.to(device)
    if mode == "m":
        return neuron(x).cpu()
    return torch.stack([neuron(step) for step in x]).cpu()


def _non_finite_input() -> torch.Tensor:
    """[8, 2, 6]: channel 0 NaN at step 2, channel 1 +inf at step 3, channel 2 -inf at step 1 (batch row 0);
    channels 3-5 and batch row 1 stay finite."""
    torch.manual_seed(3)
    x = torch.randn(8, 2, 6) * 2
    x[2, 0, 0] = float("nan")
    x[3, 0, 1] = float("inf")
    x[1, 0, 2] = -float("inf")
    return x


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("max_spike, tau", [(4, 0.25), (1, 0.25), (4, 0.3)])  # tau 0.3: the general-tau path
def test_non_finite_inputs_propagate_as_nan_on_every_backend_and_mode(backend, max_spike, tau):
    x = _non_finite_input()
    reference = DSN(6, max_spike=max_spike, tau=tau, backend="naive")
    expected = _run(reference, x, "m")
    # a non-finite input makes that neuron's H NaN from its step on, and its spikes NaN
    poisoned = torch.zeros_like(x, dtype=torch.bool)
    poisoned[2:, 0, 0] = poisoned[3:, 0, 1] = poisoned[1:, 0, 2] = True
    assert torch.equal(expected.isnan(), poisoned)
    assert torch.equal(reference.h.isnan(), poisoned[-1])
    for mode in ("m", "s") if backend != "triton" else ("m",):
        neuron = DSN(6, max_spike=max_spike, tau=tau, backend=backend)
        neuron.load_state_dict(reference.state_dict())
        got = _run(neuron, x, mode)
        assert torch.equal(got.isnan(), poisoned), (backend, mode)
        assert torch.equal(neuron.h.isnan().cpu(), poisoned[-1]), (backend, mode)
        finite = ~poisoned
        assert (got[finite] - expected[finite]).abs().max() <= 1  # equal up to float ties
        assert (got[finite] != expected[finite]).float().mean() < 0.02


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_nan_state_stays_nan_in_later_chunks(backend):
    device = _device(backend)
    neuron = DSN(3, backend=backend).to(device)
    first = torch.ones(4, 1, 3, device=device)
    first[1, 0, 0] = float("nan")
    neuron(first)
    later = neuron(torch.ones(5, 1, 3, device=device)).cpu()
    assert later[:, 0, 0].isnan().all() and not later[:, 0, 1:].isnan().any()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("shape", [(5, 0, 8), (5, 2, 8, 0), (5, 0, 8, 3, 3)])
def test_empty_batch_and_spatial_dimensions(backend, shape):
    device = _device(backend)
    for mode in ("m", "s") if backend != "triton" else ("m",):
        neuron = DSN(8, backend=backend, step_mode=mode).to(device)
        x = torch.randn(shape, device=device, requires_grad=True)
        out = neuron(x) if mode == "m" else torch.stack([neuron(step) for step in x])
        assert out.shape == shape and neuron.h.shape == shape[1:]
        out.sum().backward()
        assert x.grad.shape == shape
        assert neuron.decay_logit.weight.grad is not None and not neuron.decay_logit.weight.grad.any()


@pytest.mark.parametrize("decay", DECAY_GENERATORS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_every_decay_generator_accepts_every_dtype_with_the_same_output_and_state_dtypes(decay, dtype):
    torch.manual_seed(0)
    x = torch.randn(7, 2, 8) * 2
    reference = DSN(8, decay=decay, backend="naive")
    expected = _run(reference, x.to(dtype).double(), "m")  # the same (rounded) inputs, computed in float64
    accumulation = torch.float64 if dtype == torch.float64 else torch.float32
    for backend in BACKENDS:
        if backend == "triton":
            continue  # checked for float16/bfloat16 in test_triton_kernels
        for mode in ("m", "s"):
            neuron = DSN(8, decay=decay, backend=backend)
            neuron.load_state_dict(reference.state_dict())
            out = _run(neuron, x.to(dtype), mode)
            assert out.dtype == dtype, (decay, backend, mode)  # spikes in the input's dtype
            assert neuron.h.dtype == accumulation, (decay, backend, mode)  # state in the accumulation dtype
            mismatch = (out.double() != expected).float().mean().item()
            assert mismatch < 0.02, (decay, backend, mode, mismatch)  # float32 vs float64 ties only


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "triton"], indirect=True)
def test_half_precision_stream_in_chunks_equals_one_call(backend):
    x = (torch.randn(12, 2, 5) * 2).to(torch.bfloat16)
    neuron = DSN(5, backend=backend)
    whole = neuron(x)
    neuron.reset()
    pieces = torch.cat([neuron(part) for part in x.split([5, 4, 3])])
    assert torch.equal(whole, pieces)  # the state between chunks is kept in float32
