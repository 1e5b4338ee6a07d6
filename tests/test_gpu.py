"""The DSN on a CUDA device (skipped without one; scripts/gpu_check.sh runs them on a GPU machine).

The Triton kernels themselves are compared with the naive reference in test_triton_kernels.py, which
runs compiled on the GPU when one is present. Here: the module as users run it on CUDA, against the
float64 naive reference on the CPU, in both step modes and streamed, in bfloat16, and compiled with
inductor.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import assert_spikes_equal_up_to_ties
from paraspike import DSN, MultiStep, reset_net

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
CUDA = torch.device("cuda")


def _pair(channels: int, **options) -> tuple[DSN, DSN]:
    torch.manual_seed(0)
    reference = DSN(channels, backend="naive", store_h_seq=True, **options).double()
    gpu = DSN(channels, store_h_seq=True, **options).to(CUDA)  # backend "auto": Triton on CUDA
    gpu.load_state_dict(reference.state_dict())
    assert gpu.fused_kernel(CUDA) == "triton"
    return reference, gpu


@pytest.mark.parametrize("options", [{"max_spike": 4}, {"max_spike": 1}, {"max_spike": 4, "tau": 0.5}])
@pytest.mark.parametrize("shape", [(64, 4, 96), (1000, 2, 256), (8, 16, 32, 8, 8)])
def test_cuda_dsn_matches_the_float64_reference_in_both_modes_and_streamed(options, shape):
    reference, gpu = _pair(shape[2], **options)
    x = torch.randn(shape, dtype=torch.float64) * 2
    expected = reference(x)
    h_ref = reference.h_seq
    parallel = gpu(x.float().to(CUDA)).double().cpu()
    assert_spikes_equal_up_to_ties(reference, parallel, expected, h_ref)
    torch.testing.assert_close(gpu.h_seq.double().cpu(), h_ref, atol=1e-4, rtol=1e-4)
    gpu.reset()
    cuts = [shape[0] // 3, shape[0] // 3 + shape[0] // 2]  # three uneven chunks
    chunks = [gpu(part.float().to(CUDA)).double().cpu() for part in torch.tensor_split(x, cuts)]
    assert_spikes_equal_up_to_ties(reference, torch.cat(chunks), expected, h_ref)
    gpu.reset()
    gpu.step_mode = "s"
    serial = torch.stack([gpu(step.float().to(CUDA)) for step in x]).double().cpu()
    assert_spikes_equal_up_to_ties(reference, serial, expected, h_ref)


def test_cuda_dsn_gradients_match_the_float64_reference():
    reference, gpu = _pair(48, max_spike=1)
    x = torch.randn(300, 4, 48, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(300, 4, 48, dtype=torch.float64)
    (reference(x) * weights).sum().backward()
    x_gpu = x.detach().float().to(CUDA).requires_grad_()
    (gpu(x_gpu) * weights.float().to(CUDA)).sum().backward()
    torch.testing.assert_close(x_gpu.grad.double().cpu(), x.grad, atol=1e-3, rtol=1e-3)
    for p_gpu, p_ref in zip(gpu.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p_gpu.grad.double().cpu(), p_ref.grad, atol=1e-2, rtol=1e-3)


def test_cuda_dsn_runs_in_bfloat16_with_float32_state():
    _, gpu = _pair(64)
    x = (torch.randn(128, 8, 64, device=CUDA) * 2).to(torch.bfloat16).requires_grad_()
    out = gpu(x)
    assert out.dtype == torch.bfloat16 and gpu.h.dtype == torch.float32
    out.float().sum().backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad.float()).all()


def test_torch_compile_with_inductor_on_cuda_matches_eager():
    torch.manual_seed(0)
    layers = [MultiStep(nn.Linear(16, 64)), DSN(64), MultiStep(nn.Linear(64, 64)), DSN(64, max_spike=1)]
    model = nn.Sequential(*layers, MultiStep(nn.Linear(64, 4))).to(CUDA)
    x = torch.randn(32, 8, 16, device=CUDA) * 3
    expected = model(x)
    expected.sum().backward()
    eager = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    reset_net(model)
    got = torch.compile(model, fullgraph=True)(x)
    got.sum().backward()
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    for p, g in zip(model.parameters(), eager, strict=True):
        torch.testing.assert_close(p.grad, g, atol=1e-3, rtol=1e-3)
