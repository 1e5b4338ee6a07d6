r"""The linear scan on the fused CPU kernel: one sequential pass forward, one reverse pass backward.

Same operator and gradients as :mod:`paraspike.ops.scan_chunked` (``h_t = e^{g_t} h_{t-1} + u_t``;
backward ``d_t = dL/dh_t + e^{g_{t+1}} d_{t+1}``, ``dL/du_t = d_t``,
``dL/dg_t = d_t e^{g_t} h_{t-1}``, ``dL/dh_0 = e^{g_0} d_0``), computed in C++ over ``[T, M]``
(time sequential, vectorised over the ``M`` neurons, threaded over neuron blocks) as the op
``torch.ops.paraspike.scan_cpu`` with C++ autograd. Saved for backward: ``g``, ``h`` and ``h0``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from paraspike.kernels.cpu import cpu_kernels

__all__ = ["linear_scan_cpu"]


def linear_scan_cpu(u: Tensor, g: Tensor, h0: Tensor | None, chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """``(h, h[-1])`` for ``u``, ``g`` ``[T, *]`` on the CPU kernel (``chunk_size`` is unused)."""
    cpu_kernels()
    h = torch.ops.paraspike.scan_cpu(u, g, h0)
    return h, h[-1]
