"""Where the Triton kernels can run, and how a launch is cut into programs.

The kernels (:mod:`paraspike.kernels.triton_dsn`) run on CUDA devices when the ``triton`` package
is installed, and on the CPU only under ``TRITON_INTERPRET=1`` (Triton's interpreter: exact and
slow, meant for tests). ``backend="auto"`` chooses them on CUDA only.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "triton_unavailable_reason",
    "interpreting",
    "triton_kernels",
    "LaunchPlan",
    "plan_launch",
    "chunk_carries",
    "accumulator_type",
    "next_power_of_2",
]


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip() == "1"


def triton_unavailable_reason(device: torch.device | str) -> str | None:
    """``None`` when the Triton kernels can run on ``device``, else why not (in words)."""
    device = torch.device(device)
    if importlib.util.find_spec("triton") is None:
        return "the 'triton' package is not installed (pip install triton; it ships with CUDA builds of torch)"
    if device.type == "cuda":
        return None
    if device.type == "cpu" and interpreting():
        return None
    return (
        f"Triton kernels run on CUDA devices, not on {device.type}; on the CPU they run only under "
        "TRITON_INTERPRET=1 (Triton's interpreter, for testing); use backend='cpu' or 'auto' there"
    )


def triton_kernels() -> ModuleType:
    """The kernel module, imported on first use (importing Triton takes a moment)."""
    from paraspike.kernels import triton_dsn

    return triton_dsn


@dataclass(frozen=True)
class LaunchPlan:
    """``BLOCK`` neurons per program, ``chunk`` steps per program, ``n_chunks`` chunks over ``T``."""

    block: int
    num_warps: int
    chunk: int
    n_chunks: int

    def grid(self, neurons: int, chunks: int | None = None) -> tuple[int, int]:
        return (math.ceil(neurons / self.block), self.n_chunks if chunks is None else chunks)


def plan_launch(
    steps: int, neurons: int, device: torch.device, chunk_size: int | None, min_chunk: int = 1
) -> LaunchPlan:
    """Block and chunk sizes for ``[steps, neurons]``.

    On CUDA: 64 neurons per program (2 warps) and chunks long enough to amortise the carry pass but
    short enough that ``blocks x chunks`` fills the device about four times over (at least 64 steps,
    so short sequences are one chunk and one kernel each way). Under the interpreter: one chunk of
    up to 128 neurons per program (fewer, larger programs run faster there). ``chunk_size`` overrides
    the chunk length (tests use it to exercise the carries); it is raised to ``min_chunk`` (the DSN
    needs ``k - 1`` steps per chunk).
    """
    if device.type == "cuda":
        block, warps = 64, 2
        blocks = math.ceil(neurons / block)
        programs = 4 * torch.cuda.get_device_properties(device).multi_processor_count
        chunk = max(64, math.ceil(steps * blocks / programs))
    else:
        block, warps = min(128, max(16, 1 << (max(neurons, 1) - 1).bit_length())), 1
        chunk = steps
    if chunk_size is not None:
        chunk = chunk_size
    chunk = max(chunk, min_chunk, 1)
    return LaunchPlan(block, warps, chunk, math.ceil(steps / chunk))


def accumulator_type(dtype: torch.dtype) -> Any:
    """The Triton type kernels accumulate in for tensors of ``dtype``: float64 for float64, else float32."""
    import triton.language as tl

    return tl.float64 if dtype == torch.float64 else tl.float32


def next_power_of_2(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


def chunk_carries(plan: LaunchPlan, first: Tensor, summarize: Callable[[Tensor, Tensor], None]) -> Tensor:
    """The state entering each of the ``plan.n_chunks`` chunks, ``[n_chunks, M]``: ``first`` ``[M]`` for
    chunk 0, then ``carry[c + 1] = prod[c] * carry[c] + loc[c]``, where ``summarize(loc, prod)`` fills
    the per-chunk summaries ``[n_chunks - 1, M]`` (local result from a zero state, product of decays)."""
    neurons = first.numel()
    if plan.n_chunks == 1:
        return first.reshape(1, neurons)
    loc = torch.empty(plan.n_chunks - 1, neurons, dtype=first.dtype, device=first.device)
    prod = torch.empty_like(loc)
    summarize(loc, prod)
    carry = torch.empty(plan.n_chunks, neurons, dtype=first.dtype, device=first.device)
    triton_kernels()._chunk_carry[(math.ceil(neurons / plan.block),)](
        loc, prod, first, carry, plan.n_chunks, neurons, BLOCK=plan.block, num_warps=plan.num_warps
    )
    return carry
