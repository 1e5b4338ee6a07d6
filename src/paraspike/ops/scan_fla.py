r"""The linear scan on flash-linear-attention's HGRN kernel (backend ``"fla"``): a peer to compare with.

fla's ``fused_recurrent_hgrn(x, g)`` computes ``h_t = e^{g_t} h_{t-1} + x_t`` over ``[B, T, D]``,
the operator of :func:`paraspike.ops.linear_scan`; the DSN paper's kernels reportedly built on it.
The backend is used only when asked for by name (``"auto"`` never picks it) and only when
``flash-linear-attention`` is installed. The initial state is folded into the first input
(``u_0 + e^{g_0} h_0``), so its gradient flows through PyTorch whatever fla does with
``initial_state``.
"""

from __future__ import annotations

import importlib
import importlib.util

import torch
from torch import Tensor

from paraspike.kernels.triton_support import interpreting

__all__ = ["linear_scan_fla", "fla_unavailable_reason"]


def fla_unavailable_reason(device: torch.device | str) -> str | None:
    """``None`` when fla's HGRN kernel can run on ``device``, else why not."""
    device = torch.device(device)
    try:
        found = importlib.util.find_spec("fla") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return "flash-linear-attention is not installed (pip install flash-linear-attention)"
    if device.type != "cuda" and not (device.type == "cpu" and interpreting()):
        return f"fla's Triton kernels run on CUDA devices, not on {device.type}"
    return None


def linear_scan_fla(u: Tensor, g: Tensor, h0: Tensor | None, chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """``(h, h[-1])`` for ``u``, ``g`` ``[T, *]`` through ``fla.ops.hgrn.fused_recurrent_hgrn``
    (``chunk_size`` is unused)."""
    hgrn = importlib.import_module("fla.ops.hgrn")
    steps, trailing = u.shape[0], u.shape[1:]
    u2 = u.reshape(steps, -1)
    g2 = g.reshape(steps, -1)
    if h0 is not None:
        first = u2[0] + torch.exp(g2[0]) * h0.reshape(-1)
        u2 = torch.cat([first.unsqueeze(0), u2[1:]], dim=0)
    out = hgrn.fused_recurrent_hgrn(u2.unsqueeze(0).contiguous(), g2.unsqueeze(0).contiguous())
    h = (out[0] if isinstance(out, tuple) else out)[0].view(steps, *trailing)
    return h, h[-1]
