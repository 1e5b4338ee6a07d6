r"""The fused DSN layer on the Triton kernels, as ``torch.library`` custom ops.

``paraspike::dsn_forward`` and ``paraspike::dsn_backward`` take the flat ``[T, M]`` layout
(:mod:`paraspike.ops._dsn_layout`); each has a fake (meta) implementation, and the forward has
autograd through the backward op, so ``torch.compile`` traces a model containing DSNs without a
graph break (the ops stay opaque nodes in the graph). Same math as
:func:`paraspike.ops.dsn_fused.dsn_fused_cpu` and the ``naive`` DSN (see
:mod:`paraspike.kernels.triton_dsn`); saved for backward: the input, ``H`` (float32 or float64)
and the small parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from paraspike.kernels.triton_support import (
    accumulator_type,
    chunk_carries,
    next_power_of_2,
    plan_launch,
    triton_kernels,
)
from paraspike.ops._checks import working_dtype
from paraspike.ops._dsn_layout import SURROGATE_IDS, flatten_state, layer_sizes, tile_parameters

__all__ = ["dsn_fused_triton"]
_MIN_LOG = {torch.float32: -80.0, torch.float64: -700.0}


def _constants(tau: float, acc: torch.dtype) -> dict[str, Any]:
    inv_tau = 1.0 / tau
    n = round(inv_tau)
    power = n if abs(inv_tau - n) < 1e-12 and n in (1, 2, 4) else 0
    min_log = _MIN_LOG[acc]
    min_sigmoid = float(torch.tensor(min_log / power, dtype=torch.float64).exp()) if power else 0.0
    return {"inv_tau": inv_tau, "POWER": power, "min_log": min_log, "min_sigmoid": min_sigmoid}


@torch.library.custom_op("paraspike::dsn_forward", mutates_args=())
def _dsn_forward(
    x: Tensor,
    history: Tensor,
    h0: Tensor,
    weight: Tensor,
    bias: Tensor,
    tau: float,
    v_threshold: float,
    max_spike: int,
    surrogate_id: int,
    surrogate_alpha: float,
    chunk_size: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(spikes [T, M] in x.dtype, H [T, M] and H_last [M] in the accumulation dtype)``."""
    steps, neurons = x.shape
    taps = weight.shape[0]
    acc = working_dtype(x.dtype)
    if neurons == 0:  # an empty layer (batch or spatial size 0)
        return torch.empty_like(x), x.new_empty(x.shape, dtype=acc), x.new_empty((0,), dtype=acc)
    k = triton_kernels()
    plan = plan_launch(steps, neurons, x.device, chunk_size if chunk_size > 0 else None, max(taps - 1, 1))
    spikes = torch.empty_like(x)
    h = torch.empty(steps, neurons, dtype=acc, device=x.device)
    consts = _constants(tau, acc)
    common = dict(
        T=steps, M=neurons, P=weight.shape[1], chunk=plan.chunk, inv_tau=consts["inv_tau"],
        min_sigmoid=consts["min_sigmoid"], min_log=consts["min_log"], K=taps,
        KW=next_power_of_2(taps), BLOCK=plan.block, POWER=consts["POWER"], ACC=accumulator_type(acc),
        num_warps=plan.num_warps,
    )  # fmt: skip
    carry = chunk_carries(
        plan,
        h0,
        lambda loc, prod: k._dsn_fwd_summary[plan.grid(neurons, plan.n_chunks - 1)](
            x, history, weight, bias, loc, prod, **common
        ),
    )
    k._dsn_fwd[plan.grid(neurons)](
        x, history, weight, bias, carry, spikes, h, vth=v_threshold, max_spike=float(max_spike),
        BINARY=max_spike == 1, **common,
    )  # fmt: skip
    return spikes, h, h[-1].clone()


@_dsn_forward.register_fake
def _(x, history, h0, weight, bias, tau, v_threshold, max_spike, surrogate_id, surrogate_alpha, chunk_size):
    acc = working_dtype(x.dtype)
    return torch.empty_like(x), x.new_empty(x.shape, dtype=acc), x.new_empty(x.shape[1:], dtype=acc)


@torch.library.custom_op("paraspike::dsn_backward", mutates_args=())
def _dsn_backward(
    grad_spikes: Tensor,
    grad_h: Tensor | None,
    grad_last: Tensor,
    x: Tensor,
    history: Tensor,
    h0: Tensor,
    h: Tensor,
    weight: Tensor,
    bias: Tensor,
    tau: float,
    v_threshold: float,
    max_spike: int,
    surrogate_id: int,
    surrogate_alpha: float,
    chunk_size: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(dx, dhistory, dh0, dweight [K, P], dbias [P])`` in the dtypes of the inputs."""
    steps, neurons = x.shape
    taps, period = weight.shape
    if neurons == 0 or period == 0:  # an empty layer: nothing reads the parameters
        return (torch.zeros_like(x), torch.zeros_like(history), torch.zeros_like(h0),
                torch.zeros_like(weight), torch.zeros_like(bias))  # fmt: skip
    k = triton_kernels()
    acc = h.dtype
    plan = plan_launch(steps, neurons, x.device, chunk_size if chunk_size > 0 else None, max(taps - 1, 1))
    consts = _constants(tau, acc)
    slope = 0 if max_spike > 1 else surrogate_id
    gh = grad_h if grad_h is not None else grad_spikes  # a valid pointer; not read when HAS_GH is False
    common = dict(
        T=steps, M=neurons, P=period, chunk=plan.chunk, n_chunks=plan.n_chunks, inv_tau=consts["inv_tau"],
        vth=v_threshold, max_spike=float(max_spike), min_sigmoid=consts["min_sigmoid"], min_log=consts["min_log"],
        sur_alpha=surrogate_alpha, K=taps, KW=next_power_of_2(taps), BLOCK=plan.block,
        POWER=consts["POWER"], SLOPE=slope, HAS_GH=grad_h is not None, ACC=accumulator_type(acc),
        num_warps=plan.num_warps,
    )  # fmt: skip
    q = chunk_carries(  # alpha_e d_e entering each chunk from the right, in reverse chunk order
        plan,
        grad_last.to(acc),
        lambda loc, prod: k._dsn_bwd_summary[plan.grid(neurons, plan.n_chunks - 1)](
            grad_spikes, gh, x, history, h, weight, bias, loc, prod, **common
        ),
    )
    dx = torch.empty_like(x)
    spill = torch.empty(plan.n_chunks, taps - 1, neurons, dtype=acc, device=x.device)
    dh0 = torch.empty(neurons, dtype=acc, device=x.device)
    dw = torch.empty(plan.n_chunks, taps, neurons, dtype=acc, device=x.device)
    db = torch.empty(plan.n_chunks, neurons, dtype=acc, device=x.device)
    k._dsn_bwd[plan.grid(neurons)](
        grad_spikes, gh, x, history, h, h0, weight, bias, q, dx, spill, dh0, dw, db, **common
    )  # fmt: skip
    if plan.n_chunks > 1 and taps > 1:  # the first k-1 logits of chunk c read the last rows of chunk c-1
        starts = torch.arange(1, plan.n_chunks, device=x.device) * plan.chunk
        rows = (starts[:, None] - 1 - torch.arange(taps - 1, device=x.device)[None, :]).reshape(-1)
        dx.index_add_(0, rows, spill[1:].reshape(-1, neurons).to(dx.dtype))
    dhist = spill[0].flip(0).to(history.dtype)  # spill slot j is input row -1-j = history row k-2-j
    dweight = dw.sum(0).view(taps, neurons // period, period).sum(1).to(weight.dtype)
    dbias = db.sum(0).view(neurons // period, period).sum(0).to(bias.dtype)
    return dx, dhist, dh0.to(h0.dtype), dweight, dbias


@_dsn_backward.register_fake
def _(grad_spikes, grad_h, grad_last, x, history, h0, h, weight, bias, *config):
    return (
        torch.empty_like(x),
        torch.empty_like(history),
        torch.empty_like(h0),
        torch.empty_like(weight),
        torch.empty_like(bias),
    )


def _setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
    x, history, h0, weight, bias, *config = inputs
    ctx.save_for_backward(x, history, h0, weight, bias, output[1])
    ctx.config = config


def _backward(ctx: Any, grad_spikes: Tensor | None, grad_h: Tensor | None, grad_last: Tensor | None) -> tuple:
    x, history, h0, weight, bias, h = ctx.saved_tensors
    grad_spikes = torch.zeros_like(x) if grad_spikes is None else grad_spikes.contiguous()
    grad_h = None if grad_h is None else grad_h.contiguous()
    grad_last = torch.zeros_like(h0) if grad_last is None else grad_last.contiguous()
    grads = _dsn_backward(grad_spikes, grad_h, grad_last, x, history, h0, h, weight, bias, *ctx.config)
    return (*grads, None, None, None, None, None, None)


_dsn_forward.register_autograd(_backward, setup_context=_setup_context)


def dsn_fused_triton(
    x: Tensor,
    history: Tensor | None,
    h0: Tensor | None,
    weight: Tensor,
    bias: Tensor,
    *,
    tau: float,
    v_threshold: float,
    max_spike: int,
    surrogate: str = "atan",
    surrogate_alpha: float = 2.0,
    chunk_size: int | None = None,
    store_h: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Spikes, membrane potentials and final state of a causal-conv DSN on the Triton kernels.

    Args:
        x: inputs ``[T, B, C, *]`` (float32, bfloat16, float16 or float64) on a CUDA device (or the
            CPU under ``TRITON_INTERPRET=1``).
        history: the ``k-1`` inputs before ``x`` ``[k-1, B, C, *]`` or ``None`` (zeros).
        h0: initial membrane potential ``[B, C, *]`` or ``None`` (zeros).
        weight: conv weight ``[C, k]``; bias: ``[C]``.
        tau: the decay exponent (``alpha = sigmoid(a')^(1/tau)``).
        v_threshold: the DSN's threshold ``V_th``.
        max_spike: the DSN's largest count ``N`` (binary firing when 1).
        surrogate: binary firing's surrogate gradient.
        surrogate_alpha: the surrogate's sharpness (``None``: its default).
        chunk_size: steps per program (``None``: chosen from the device); any value gives the same
            result up to float rounding.
        store_h: accepted for symmetry with the CPU kernel; ``H`` is always computed and returned.

    Returns:
        ``(spikes, h, h_last)``: ``[T, B, C, *]`` in ``x.dtype``, then ``[T, B, C, *]`` and ``[B, C, *]``
        in the accumulation dtype (float32; float64 for float64 inputs).
    """
    steps, neurons, spatial = layer_sizes(x)
    taps = weight.shape[1]
    acc = working_dtype(x.dtype)
    w_tile, b_tile = tile_parameters(weight, bias, spatial, 1, acc)
    x2 = x.reshape(steps, neurons).contiguous()
    hist2, start = flatten_state(x2, history, h0, taps, x.dtype, acc)
    spikes, h, h_last = _dsn_forward(
        x2,
        hist2,
        start,
        w_tile,
        b_tile,
        float(tau),
        float(v_threshold),
        int(max_spike),
        SURROGATE_IDS[surrogate],
        float(surrogate_alpha),
        0 if chunk_size is None else int(chunk_size),
    )
    shape = x.shape
    return spikes.view(shape), h.view(shape), h_last.view(shape[1:])
