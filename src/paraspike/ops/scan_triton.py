r"""The linear scan on Triton kernels (backend ``"triton"``), as a ``torch.library`` custom op.

``h_t = e^{g_t} h_{t-1} + u_t`` over ``[T, M]``, chunked over time like the fused DSN
(:mod:`paraspike.kernels.triton_dsn`): per-chunk summaries, a sequential carry over chunks, then
every chunk from its incoming state; the backward is the same in reverse
(``d_t = dL/dh_t + e^{g_{t+1}} d_{t+1}``, ``du = d``, ``dg_t = d_t e^{g_t} h_{t-1}``,
``dh_0 = e^{g_0} d_0``). Saved for backward: ``g``, ``h`` and ``h0``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from paraspike.kernels.triton_support import accumulator_type, chunk_carries, plan_launch, triton_kernels

__all__ = ["linear_scan_triton"]


@torch.library.custom_op("paraspike::scan_forward", mutates_args=())
def _scan_forward(u: Tensor, g: Tensor, h0: Tensor, chunk_size: int) -> Tensor:
    """``h`` ``[T, M]`` for ``u``, ``g`` ``[T, M]`` and ``h0`` ``[M]`` (all float32, or all float64)."""
    k = triton_kernels()
    steps, neurons = u.shape
    plan = plan_launch(steps, neurons, u.device, chunk_size if chunk_size > 0 else None)
    acc = accumulator_type(u.dtype)
    h = torch.empty_like(u)
    carry = chunk_carries(
        plan,
        h0,
        lambda loc, prod: k._scan_fwd_summary[plan.grid(neurons, plan.n_chunks - 1)](
            u, g, loc, prod, steps, neurons, plan.chunk, BLOCK=plan.block, ACC=acc, num_warps=plan.num_warps
        ),
    )
    k._scan_fwd[plan.grid(neurons)](
        u, g, carry, h, steps, neurons, plan.chunk, BLOCK=plan.block, ACC=acc, num_warps=plan.num_warps
    )
    return h


@_scan_forward.register_fake
def _(u, g, h0, chunk_size):
    return torch.empty_like(u)


@torch.library.custom_op("paraspike::scan_backward", mutates_args=())
def _scan_backward(grad_h: Tensor, g: Tensor, h: Tensor, h0: Tensor, chunk_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(du, dg, dh0)``."""
    k = triton_kernels()
    steps, neurons = g.shape
    plan = plan_launch(steps, neurons, g.device, chunk_size if chunk_size > 0 else None)
    acc = accumulator_type(g.dtype)  # linear_scan hands backends float32 or float64
    q = chunk_carries(  # h_last's gradient is already in grad_h: nothing enters the last chunk
        plan,
        torch.zeros(neurons, dtype=g.dtype, device=g.device),
        lambda loc, prod: k._scan_bwd_summary[plan.grid(neurons, plan.n_chunks - 1)](
            grad_h,
            g,
            loc,
            prod,
            steps,
            neurons,
            plan.chunk,
            plan.n_chunks,
            BLOCK=plan.block,
            ACC=acc,
            num_warps=plan.num_warps,
        ),  # fmt: skip
    )
    du = torch.empty_like(g)
    dg = torch.empty_like(g)
    dh0 = torch.empty_like(h0)
    k._scan_bwd[plan.grid(neurons)](
        grad_h, g, h, h0, q, du, dg, dh0, steps, neurons, plan.chunk, plan.n_chunks, BLOCK=plan.block, ACC=acc,
        num_warps=plan.num_warps,
    )  # fmt: skip
    return du, dg, dh0


@_scan_backward.register_fake
def _(grad_h, g, h, h0, chunk_size):
    return torch.empty_like(g), torch.empty_like(g), torch.empty_like(h0)


def _setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
    u, g, h0, chunk_size = inputs
    ctx.save_for_backward(g, output, h0)
    ctx.chunk_size = chunk_size


def _backward(ctx: Any, grad_h: Tensor) -> tuple:
    g, h, h0 = ctx.saved_tensors
    du, dg, dh0 = _scan_backward(grad_h.contiguous(), g, h, h0, ctx.chunk_size)
    return du, dg, dh0, None


_scan_forward.register_autograd(_backward, setup_context=_setup_context)


def linear_scan_triton(u: Tensor, g: Tensor, h0: Tensor | None, chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """``(h, h[-1])`` for ``u``, ``g`` ``[T, *]`` on the Triton kernels (working-dtype inputs)."""
    steps, trailing = u.shape[0], u.shape[1:]
    u2 = u.reshape(steps, -1).contiguous()
    g2 = g.reshape(steps, -1).contiguous()
    start = u2.new_zeros(u2.shape[1]) if h0 is None else h0.reshape(-1).contiguous()
    h = _scan_forward(u2, g2, start, 0 if chunk_size is None else int(chunk_size)).view(steps, *trailing)
    return h, h[-1]
