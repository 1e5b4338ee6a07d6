"""Integer spike counts to front-loaded binary sub-steps, and back (spec section 4).

Each logical step ``t`` with count ``S_t in {0..N}`` becomes ``N`` binary sub-steps; sub-step
``k`` (``0..N-1``) carries a 1 iff ``k < S_t``. Because a synaptic layer ``W`` is linear,
``sum_k W s_{t,k} = W S_t``: a bias-free layer applied to the sub-steps and summed per logical
step gives exactly the integer network's input current.
"""

from __future__ import annotations

import torch
from torch import Tensor

from paraspike.ops._checks import check_positive_int

__all__ = ["expand_spikes", "collapse_spikes"]


def expand_spikes(counts: Tensor, max_spike: int, *, validate: bool = True) -> Tensor:
    """Expand counts ``[T, *]`` into binary spikes ``[T * max_spike, *]`` (front-loaded).

    Args:
        counts: integer-valued spike counts in ``[0, max_spike]``, any dtype.
        max_spike: ``N``, the number of sub-steps per logical step.
        validate: check that every count is an integer in ``[0, N]`` (one extra pass).

    Returns:
        0/1 tensor of ``counts.dtype`` with ``out[t*N + k] = 1[k < counts[t]]``.
    """
    check_positive_int("max_spike", max_spike)
    if counts.dim() < 1:
        raise ValueError("counts must be [T, *] with a time dimension, got a scalar")
    if validate:
        bad = (counts < 0) | (counts > max_spike) | (counts != torch.floor(counts.double()).to(counts.dtype))
        if bool(bad.any()):
            raise ValueError(f"counts must be integers in [0, {max_spike}]; found {int(bad.sum())} values outside")
    sub = torch.arange(max_spike, device=counts.device).view(1, max_spike, *([1] * (counts.dim() - 1)))
    binary = (counts.unsqueeze(1) > sub).to(counts.dtype)
    return binary.reshape(counts.shape[0] * max_spike, *counts.shape[1:])


def collapse_spikes(binary: Tensor, max_spike: int) -> Tensor:
    """Sum binary sub-steps ``[T * max_spike, *]`` back into counts ``[T, *]``."""
    check_positive_int("max_spike", max_spike)
    if binary.dim() < 1 or binary.shape[0] % max_spike != 0:
        raise ValueError(
            f"dimension 0 of binary ({binary.shape[0] if binary.dim() else 'scalar'}) must be a "
            f"multiple of max_spike={max_spike}"
        )
    steps = binary.shape[0] // max_spike
    return binary.reshape(steps, max_spike, *binary.shape[1:]).sum(1)
