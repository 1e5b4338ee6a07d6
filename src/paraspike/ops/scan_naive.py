"""The reference linear scan: a plain loop over time, differentiated by autograd.

This is the specification every other backend is tested against. It is slow on long
sequences (one small op per step, each recorded by autograd) and is not meant for training.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["linear_scan_naive"]


def linear_scan_naive(u: Tensor, log_decay: Tensor, h0: Tensor | None) -> tuple[Tensor, Tensor]:
    r"""Compute :math:`h_t = e^{g_t} h_{t-1} + u_t` step by step.

    Args:
        u: inputs ``[T, *]``, already in the working dtype.
        log_decay: log of the decay ``g`` ``[T, *]`` (``g <= 0`` for a decay in (0, 1]).
        h0: initial state ``[*]`` or ``None`` for zeros.

    Returns:
        ``(h, h_last)`` with ``h`` of shape ``[T, *]`` and ``h_last = h[T-1]`` of shape ``[*]``.
    """
    state = torch.zeros_like(u[0]) if h0 is None else h0
    states = []
    # unbind(0) instead of u[t]: indexing inside an autograd loop costs O(T^2) in backward.
    for u_t, g_t in zip(u.unbind(0), log_decay.unbind(0), strict=True):
        state = torch.exp(g_t) * state + u_t
        states.append(state)
    return torch.stack(states), state
