"""Input checks shared by the ops: each error names the argument and says what was expected."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_float_tensor", "check_positive_int", "working_dtype"]


def check_float_tensor(name: str, value: object, *, min_dim: int = 0) -> Tensor:
    """Raise a clear ``TypeError``/``ValueError`` unless ``value`` is a floating-point tensor.

    Args:
        name: the argument name used in the message.
        value: the object to check.
        min_dim: the smallest accepted number of dimensions.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float16/bfloat16/float32/float64), "
            f"got dtype {value.dtype}; convert it with .float()"
        )
    if value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(value.shape)}")
    return value


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a computation accumulates in: float32 for half types, else the dtype itself."""
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return dtype


def check_positive_int(name: str, value: object) -> int:
    """Raise ``ValueError`` unless ``value`` is an ``int >= 1`` (``bool`` is rejected)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value
