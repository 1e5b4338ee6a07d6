r"""The linear scan on the fused CPU kernel: one sequential pass forward, one reverse pass backward.

Same operator and gradients as :mod:`paraspike.ops.scan_chunked` (``h_t = e^{g_t} h_{t-1} + u_t``;
backward ``d_t = dL/dh_t + e^{g_{t+1}} d_{t+1}``, ``dL/du_t = d_t``,
``dL/dg_t = d_t e^{g_t} h_{t-1}``, ``dL/dh_0 = e^{g_0} d_0``), computed in C++ over ``[T, M]``
(time sequential, vectorised over the ``M`` neurons, threaded over neuron blocks). Saved for
backward: ``g``, ``h`` and ``h0``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from paraspike.kernels.cpu import cpu_kernels

__all__ = ["linear_scan_cpu"]


class _CpuScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, u: Tensor, g: Tensor, h0: Tensor) -> Tensor:
        (h,) = cpu_kernels().scan_forward(u, g, h0)
        ctx.save_for_backward(g, h, h0)
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        g, h, h0 = ctx.saved_tensors
        no_final = torch.zeros_like(h0)
        du, dg, dh0 = cpu_kernels().scan_backward(grad_h.contiguous(), no_final, g, h, h0)
        return du, dg, dh0


def linear_scan_cpu(u: Tensor, g: Tensor, h0: Tensor | None, chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """``(h, h[-1])`` for ``u``, ``g`` ``[T, *]`` on the CPU kernel (``chunk_size`` is unused)."""
    steps, trailing = u.shape[0], u.shape[1:]
    u2 = u.reshape(steps, -1).contiguous()
    g2 = g.reshape(steps, -1).contiguous()
    start = u2.new_zeros(u2.shape[1]) if h0 is None else h0.reshape(-1).contiguous()
    h = _CpuScan.apply(u2, g2, start).view(steps, *trailing)
    return h, h[-1]
