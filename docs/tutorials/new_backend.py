"""Tutorial 7: writing a new scan backend (and a new neuron). The layering is kernels -> ops ->
neurons -> nn -> models; a backend plugs in at the ops level and every DSN, LIF without reset and
S4D-style scan can use it. A backend must pass the tests every backend passes: values and gradients
equal the naive reference (float64), any trailing shape, an initial state, and non-finite inputs
propagated as NaN.

Run: python docs/tutorials/new_backend.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from paraspike import DSN
from paraspike.neurons import build_neuron
from paraspike.neurons.registry import register_neuron
from paraspike.ops import linear_scan
from paraspike.ops.scan import register_scan_backend


def doubling_scan(u: torch.Tensor, log_decay: torch.Tensor, h0: torch.Tensor | None, chunk: int | None):
    """h_t = exp(g_t) h_{t-1} + u_t by recursive doubling (Hillis-Steele): log2(T) rounds of whole-tensor
    ops, differentiable by autograd. Returns (h [T, *], h[-1])."""
    a, b = log_decay, u.clone()
    if h0 is not None:
        b[0] = b[0] + torch.exp(a[0]) * h0
    shift = 1
    while shift < u.shape[0]:
        b = torch.cat([b[:shift], b[shift:] + torch.exp(a[shift:]) * b[:-shift]])
        a = torch.cat([a[:shift], a[shift:] + a[:-shift]])
        shift *= 2
    return b, b[-1]


def main(out: Path = Path("docs/tutorials/figures"), quick: bool = False) -> dict[str, float]:
    register_scan_backend("doubling", doubling_scan)

    # The checks a backend must pass, here against "naive" in float64 (tests/test_scan.py runs them
    # for every registered backend):
    torch.manual_seed(0)
    u = torch.randn(37, 3, 5, dtype=torch.float64, requires_grad=True)
    g = (-torch.rand(37, 3, 5, dtype=torch.float64)).requires_grad_()
    h0 = torch.randn(3, 5, dtype=torch.float64)
    mine, _ = linear_scan(u, g, h0, backend="doubling")
    naive, _ = linear_scan(u, g, h0, backend="naive")
    grads = torch.autograd.grad(mine.sum(), (u, g))
    naive_grads = torch.autograd.grad(naive.sum(), (u, g))
    errors = {
        "values": (mine - naive).abs().max().item(),
        "grad_u": (grads[0] - naive_grads[0]).abs().max().item(),
        "grad_decay": (grads[1] - naive_grads[1]).abs().max().item(),
    }
    assert max(errors.values()) < 1e-10

    # Any DSN can use it by name (the fused kernel is bypassed for a named non-fused backend):
    dsn = DSN(5, backend="doubling")
    spikes = dsn(torch.randn(16, 2, 5)).detach()

    # A new neuron: register a builder, and every config can name it (model.neuron=dsn-k8).
    register_neuron("dsn-k8", lambda channels, steps, **options: DSN(channels, kernel_size=8, **options))
    neuron = build_neuron("dsn-k8", channels=5)
    assert neuron.kernel_size == 8
    return {**errors, "spikes": float(spikes.sum())}


if __name__ == "__main__":
    print(main())
