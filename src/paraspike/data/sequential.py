"""Sequential presentations of images: one step per pixel, per row or per column.

Every presentation returns ``[N, T, C, L]``: ``T`` steps, each carrying ``C`` channels of length
``L`` (the shape the sequential-image network's per-step ``Conv1d`` reads):

======== ============ =====================================================
mode     T            one step
======== ============ =====================================================
pixel    H * W        one pixel, ``[C, 1]`` (sequential MNIST, T = 784)
row      H            one row, ``[C, W]`` (T = 28 for 28 x 28)
column   W            one column, ``[C, H]`` (the PSN papers' sequential CIFAR: T = 32, 3 x 32)
======== ============ =====================================================

``permute_seed`` applies one fixed random permutation (drawn from the seed) to the pixel order
(``pixel``) or to the step order (``row``/``column``): the "permuted" variants.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["present_sequentially", "PRESENTATIONS"]

PRESENTATIONS = ("pixel", "row", "column")


def present_sequentially(images: Tensor, mode: str, permute_seed: int | None = None) -> Tensor:
    """``[N, T, C, L]`` sequences from images ``[N, H, W]`` or ``[N, C, H, W]`` (see the module doc)."""
    if mode not in PRESENTATIONS:
        raise ValueError(f"unknown presentation {mode!r}; choose one of {PRESENTATIONS}")
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"images must be [N, H, W] or [N, C, H, W], got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    if mode == "pixel":
        seq = images.reshape(n, c, h * w).permute(0, 2, 1).unsqueeze(-1)  # [N, HW, C, 1]
    elif mode == "row":
        seq = images.permute(0, 2, 1, 3)  # [N, H, C, W]
    else:
        seq = images.permute(0, 3, 1, 2)  # [N, W, C, H]
    if permute_seed is not None:
        order = torch.randperm(seq.shape[1], generator=torch.Generator().manual_seed(permute_seed))
        seq = seq[:, order]
    return seq.contiguous()
