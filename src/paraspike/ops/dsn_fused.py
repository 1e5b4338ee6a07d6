r"""The whole DSN layer (causal-conv decay) as one fused CPU kernel call, forward and backward.

For ``x`` ``[T, B, C, *]`` with conv ``weight`` ``[C, k]`` and ``bias`` ``[C]`` (tap ``j = 0`` the
oldest), one sequential pass computes, per neuron::

    z_t = b + sum_j w_j x_{t-(k-1)+j}         (x_{<0} from ``history`` [k-1, B, C, *], zeros if None)
    log alpha_t = logsigmoid(z_t) / tau
    H_t = alpha_t H_{t-1} + (1 - alpha_t) x_t
    S_t = clip(floor(H_t / V_th + 1/2), 0, N)   (N >= 2)   or   1[H_t / V_th >= 1/2]   (N = 1)

and one reverse pass computes the gradients of ``x``, ``history``, ``h0``, ``weight`` and ``bias``
(spec section 3 plus the chain rule through the conv: ``dx_t`` gathers the ``k`` logits that read
``x_t``). Saved for backward: the input (held by autograd anyway), ``H`` and the small parameters;
``alpha`` and the logits are recomputed in the reverse pass rather than stored.

This is the same function as :class:`paraspike.neurons.DSN` with ``decay="causal_conv"`` on the
``naive``/``chunked`` backends; the tests compare them (values and all gradients).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from paraspike.kernels.cpu import cpu_kernels
from paraspike.ops._checks import working_dtype
from paraspike.ops._dsn_layout import SURROGATE_IDS, layer_sizes, tile_parameters

__all__ = ["dsn_fused_cpu"]

# The kernel gives each thread blocks of this many neurons; parameters are tiled to at least this width.
_TASK_WIDTH = 256


class _FusedDSN(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        history: Tensor | None,
        h0: Tensor | None,
        weight: Tensor,
        bias: Tensor,
        tau: float,
        v_threshold: float,
        max_spike: int,
        surrogate_id: int,
        surrogate_alpha: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        spikes, h, h_last = cpu_kernels().dsn_forward(x, history, h0, weight, bias, tau, v_threshold, max_spike)
        ctx.save_for_backward(x, history, h0, weight, bias, h)
        ctx.config = (tau, v_threshold, max_spike, surrogate_id, surrogate_alpha)
        ctx.set_materialize_grads(False)
        return spikes, h, h_last

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor | None, grad_h: Tensor | None, grad_last: Tensor | None) -> tuple:
        x, history, h0, weight, bias, h = ctx.saved_tensors
        dx, dhist, dh0, dw, db = cpu_kernels().dsn_backward(
            grad_spikes, grad_h, grad_last, x, history, h0, h, weight, bias, *ctx.config
        )
        return dx, None if history is None else dhist, None if h0 is None else dh0, dw, db, *(None,) * 5


def _period_rows(batch: int, width: int) -> int:
    """How many batch rows one parameter tile spans: 1, unless a row is narrower than 64 neurons; then
    the largest divisor ``g`` of ``batch`` with ``g * width <= _TASK_WIDTH`` (wide enough vector blocks)."""
    if width >= 64:
        return 1
    return max(rows for rows in range(1, batch + 1) if batch % rows == 0 and rows * width <= _TASK_WIDTH)


def dsn_fused_cpu(
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
) -> tuple[Tensor, Tensor, Tensor]:
    """Spikes, membrane potentials and final state of a causal-conv DSN on the CPU kernel.

    Args:
        x: inputs ``[T, B, C, *]`` on the CPU.
        history: the ``k-1`` inputs before ``x`` ``[k-1, B, C, *]`` or ``None`` (zeros).
        h0: initial membrane potential ``[B, C, *]`` or ``None`` (zeros).
        weight: conv weight ``[C, k]``; bias: ``[C]``.
        tau, v_threshold, max_spike: the DSN hyperparameters (binary firing when ``max_spike == 1``).
        surrogate, surrogate_alpha: binary firing's surrogate gradient.

    Returns:
        ``(spikes, h, h_last)``: ``[T, B, C, *]``, ``[T, B, C, *]`` and ``[B, C, *]`` in ``x.dtype``
        (float16/bfloat16 are computed in float32).
    """
    steps, neurons, spatial = layer_sizes(x)
    batch, channels = x.shape[1:3]
    taps = weight.shape[1]
    compute = working_dtype(x.dtype)
    w_tile, b_tile = tile_parameters(weight, bias, spatial, _period_rows(batch, channels * spatial), compute)
    x2 = x.to(compute).reshape(steps, neurons).contiguous()
    hist2 = None if history is None else history.to(compute).reshape(taps - 1, neurons).contiguous()
    start = None if h0 is None else h0.to(compute).reshape(neurons).contiguous()
    spikes, h, h_last = _FusedDSN.apply(
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
    )
    shape = x.shape
    return spikes.view(shape).to(x.dtype), h.view(shape).to(x.dtype), h_last.view(shape[1:]).to(x.dtype)
