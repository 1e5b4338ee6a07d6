"""The flat ``[T, M]`` layout the fused DSN kernels (CPU and Triton) work on.

A layer input ``x`` ``[T, B, C, *]`` becomes ``[T, M]`` with ``M = B * C * S`` neurons
(``S`` = the product of the trailing dimensions); the conv parameters ``weight`` ``[C, k]`` and
``bias`` ``[C]`` become per-neuron columns ``[k, P]`` and ``[P]`` repeating with period
``P = rows * C * S`` (neuron ``n`` uses column ``n % P``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["tile_parameters", "flatten_state", "layer_sizes", "SURROGATE_IDS"]

# Binary firing's surrogate, as the kernels number it (integer firing, max_spike > 1, is slope id 0).
SURROGATE_IDS = {"atan": 1, "sigmoid": 2, "rect": 3}


def layer_sizes(x: Tensor) -> tuple[int, int, int]:
    """``(T, M, S)`` of a layer input ``[T, B, C, *]``: steps, neurons ``B * C * S``, trailing size ``S``."""
    spatial = math.prod(x.shape[3:])
    return x.shape[0], x.shape[1] * x.shape[2] * spatial, spatial


def tile_parameters(weight: Tensor, bias: Tensor, spatial: int, rows: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``(w [k, rows * C * S], b [rows * C * S])``, contiguous, in ``dtype``: each channel's taps
    repeated over its ``S`` positions and the tile repeated for ``rows`` batch rows."""
    taps = weight.shape[1]
    channels = weight.shape[0]
    if rows == 1 and spatial == 1:  # the common case: one parameter column per channel
        return weight.to(dtype).t().contiguous(), bias.to(dtype).contiguous()
    w_tile = weight.to(dtype).t().unsqueeze(-1).expand(taps, channels, spatial).reshape(taps, 1, -1)
    w_tile = w_tile.expand(taps, rows, channels * spatial).reshape(taps, -1).contiguous()
    b_tile = bias.to(dtype).unsqueeze(-1).expand(channels, spatial).reshape(1, -1)
    return w_tile, b_tile.expand(rows, channels * spatial).reshape(-1).contiguous()


def flatten_state(
    x2: Tensor, history: Tensor | None, h0: Tensor | None, taps: int, dtype: torch.dtype, state_dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """``(history [k-1, M] in dtype, h0 [M] in state_dtype)`` for the flat input ``x2`` ``[T, M]``
    (zeros where ``None``)."""
    neurons = x2.shape[1]
    if history is None:
        hist2 = x2.new_zeros(taps - 1, neurons, dtype=dtype)
    else:
        hist2 = history.to(dtype).reshape(taps - 1, neurons).contiguous()
    start = x2.new_zeros(neurons, dtype=state_dtype) if h0 is None else h0.to(state_dtype).reshape(neurons).contiguous()
    return hist2, start
