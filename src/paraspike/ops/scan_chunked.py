r"""Chunked linear scan in plain PyTorch with a hand-written reverse-scan backward.

Forward, for a sequence of ``L`` steps split into ``M`` chunks of ``C`` steps:

1. every chunk is scanned from a zero state, all chunks at once (``C`` vectorised steps over
   ``[M, N]``), keeping only each chunk's end state ``e_m`` and its total decay
   ``p_m = exp(sum of g in chunk m)``;
2. the carries are propagated between chunks: ``s_m = p_{m-1} s_{m-1} + e_{m-1}`` (``M`` small steps);
3. every chunk is scanned again from its true carry, all chunks at once, writing the output.

No cumulative product is ever divided by (it underflows); nothing of size ``T x T`` or ``T x C``
is allocated. Python-level op count is about ``4C + M``; the chunk size defaults to about
``sqrt(T / 4)``.

Backward (spec section 3) is the same scan run in reverse with the gates shifted by one step::

    d_t = dL/dh_t + exp(g_{t+1}) d_{t+1}      (d_{T-1} also receives dL/dh_last)
    dL/du_t = d_t,   dL/dg_t = d_t * exp(g_t) * h_{t-1},   dL/dh0 = exp(g_0) * d_0

Saved for backward: ``u``, ``g``, ``h`` and ``h0``; activation memory is ``O(T x N)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = ["linear_scan_chunked", "default_chunk_size"]

# Below this many steps a single sequential pass is cheaper than three chunked passes.
_SEQUENTIAL_MAX_STEPS = 64


def default_chunk_size(num_steps: int) -> int:
    """About ``sqrt(T / 4)`` rounded to a power of two, at least 16: minimises ``4C + T/C``."""
    if num_steps <= 1:
        return 16
    return max(16, 2 ** round(math.log2(math.sqrt(num_steps / 4))))


def _min_log(dtype: torch.dtype) -> float:
    # exp() of arguments below the normal range takes a slow denormal path on CPU (15-120x);
    # exp(-80) ~ 1.8e-35 is already zero for any float32 state.
    return -80.0 if dtype in (torch.float32, torch.float16, torch.bfloat16) else -700.0


def _scan_sequential(out: Tensor, u: Tensor, decay: Tensor, init: Tensor, reverse: bool) -> None:
    order = range(u.shape[0] - 1, -1, -1) if reverse else range(u.shape[0])
    prev = init
    for t in order:
        torch.addcmul(u[t], decay[t], prev, out=out[t])
        prev = out[t]


def _scan_into(out: Tensor, u: Tensor, decay: Tensor, g: Tensor, init: Tensor, reverse: bool, chunk: int) -> None:
    """Write ``out[t] = decay[t] * prev + u[t]`` for all ``t`` of ``[L, N]`` tensors.

    ``prev`` is ``out[t-1]`` (``reverse=False``) or ``out[t+1]`` (``reverse=True``); the first
    step processed uses ``init`` (``[N]``). ``decay = exp(g)`` may be the very tensor ``out``
    (each decay is read before its slot is overwritten), which saves a buffer and a pass.
    ``g`` is only read for the chunk totals. All tensors are contiguous and share a dtype.
    """
    length, width = u.shape
    if length == 0:
        return
    num_chunks = length // chunk
    if length <= _SEQUENTIAL_MAX_STEPS or num_chunks < 2:
        _scan_sequential(out, u, decay, init, reverse)
        return
    rest = length - num_chunks * chunk
    main = slice(rest, length) if reverse else slice(0, length - rest)
    shape3 = (num_chunks, chunk, width)
    u3, decay3, out3 = u[main].view(shape3), decay[main].view(shape3), out[main].view(shape3)
    steps = range(chunk - 1, -1, -1) if reverse else range(chunk)

    # 1. end state of every chunk started from zero
    local_end = torch.zeros(num_chunks, width, dtype=u.dtype, device=u.device)
    for j in steps:
        torch.addcmul(u3[:, j], decay3[:, j], local_end, out=local_end)
    chunk_decay = g[main].view(shape3).sum(1).clamp_(min=_min_log(u.dtype)).exp_()

    # 2. carries between chunks
    carry = torch.empty(num_chunks, width, dtype=u.dtype, device=u.device)
    chunk_order = range(num_chunks - 1, -1, -1) if reverse else range(num_chunks)
    previous = chunk_order[0]
    carry[previous] = init
    for m in chunk_order[1:]:
        torch.addcmul(local_end[previous], chunk_decay[previous], carry[previous], out=carry[m])
        previous = m

    # 3. every chunk again, from its true carry
    state = carry
    for j in steps:
        torch.addcmul(u3[:, j], decay3[:, j], state, out=out3[:, j])
        state = out3[:, j]

    # steps that do not fill a whole chunk, continuing from the main block
    if rest:
        tail = slice(0, rest) if reverse else slice(length - rest, length)
        start = out[rest] if reverse else out[length - rest - 1]
        _scan_sequential(out[tail], u[tail], decay[tail], start, reverse)


class _ChunkedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, u: Tensor, g: Tensor, h0: Tensor | None, chunk: int) -> tuple[Tensor, Tensor]:
        init = torch.zeros_like(u[0]) if h0 is None else h0
        h = torch.exp(g)  # the decays, overwritten in place by the states
        _scan_into(h, u, h, g, init, reverse=False, chunk=chunk)
        ctx.save_for_backward(u, g, h, h0)
        ctx.chunk = chunk
        ctx.has_h0 = h0 is not None
        return h, h[-1].clone()

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor, grad_last: Tensor) -> tuple[Tensor | None, ...]:
        u, g, h, h0 = ctx.saved_tensors
        grad_h = grad_h.contiguous()
        decay = torch.exp(g)  # reused as the buffer of dL/dg
        d = torch.empty_like(h)
        torch.add(grad_h[-1], grad_last, out=d[-1])
        _scan_into(d[:-1], grad_h[:-1], decay[1:], g[1:], d[-1], reverse=True, chunk=ctx.chunk)

        grad_h0 = decay[0] * d[0] if ctx.has_h0 and ctx.needs_input_grad[2] else None
        grad_g = None
        if ctx.needs_input_grad[1]:
            grad_g = decay
            grad_g[1:].mul_(h[:-1])
            if ctx.has_h0:
                grad_g[0].mul_(h0)
            else:
                grad_g[0].zero_()
            grad_g.mul_(d)
        grad_u = d if ctx.needs_input_grad[0] else None
        return grad_u, grad_g, grad_h0, None


def linear_scan_chunked(
    u: Tensor, log_decay: Tensor, h0: Tensor | None, chunk_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """Chunked scan over ``[T, *]`` tensors (see the module docstring).

    Args:
        u: inputs ``[T, *]`` in the working dtype.
        log_decay: ``g`` ``[T, *]``, same shape and dtype as ``u``.
        h0: initial state ``[*]`` or ``None`` for zeros.
        chunk_size: steps per chunk; ``None`` picks :func:`default_chunk_size`.

    Returns:
        ``(h, h_last)``: all states ``[T, *]`` and the final state ``[*]``.
    """
    steps = u.shape[0]
    trailing = u.shape[1:]
    chunk = default_chunk_size(steps) if chunk_size is None else chunk_size
    u2 = u.reshape(steps, -1).contiguous()
    g2 = log_decay.reshape(steps, -1).contiguous()
    h02 = None if h0 is None else h0.reshape(-1).contiguous()
    h, last = _ChunkedScan.apply(u2, g2, h02, chunk)
    return h.view(steps, *trailing), last.view(trailing)
