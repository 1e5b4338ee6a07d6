r"""Hardware-friendly DSN options: decay functions without a float sigmoid and power, int8 decay-conv
weights, fixed-point membrane state (spec: tasks.md section 4; issue 15).

Decay functions (``DSN(decay_fn=...)``), from the logit ``a' = conv(x)_t``:

================ =================================================================================
``sigmoid``      ``alpha = sigmoid(a')^(1/tau)`` (the paper's; default)
``hard_sigmoid`` ``alpha = clamp(1/2 + a'/4, 0, 1)^(1/tau)``: a piecewise-linear sigmoid (a multiply-add
                 and two compares); with ``1/tau`` an integer (4 by default) the power is
                 ``log2(1/tau)`` squarings
``pow2``         ``1 - alpha`` rounded to a power of two, ``1 - alpha = 2^-s``, ``s = round(-log2(1 -
                 alpha_sigmoid))`` clipped to ``0..15``: the update ``H += (x - H) >> s`` is a shift
                 and two adds, and since ``s`` is a monotone step function of ``a'`` a chip finds it
                 with four compares against precomputed logit thresholds. Straight-through gradient
                 (the unrounded sigmoid decay's)
================ =================================================================================

``weight_bits`` (e.g. 8): the decay conv weights are fake-quantised per channel, symmetric, to
``2^(bits-1) - 1`` levels each side (straight-through gradient), in training and inference alike.

``state_frac_bits`` (e.g. 8): in inference (``module.eval()``) the membrane ``H`` is rounded to a
multiple of ``2^-state_frac_bits`` after every update, as a fixed-point register would hold it; a
multi-step call then runs serially (the rounding is not a linear recurrence). Training keeps the float
state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DECAY_FUNCTIONS", "log_decay", "quantize_weight", "round_state", "check_hardware_options"]

DECAY_FUNCTIONS = ("sigmoid", "hard_sigmoid", "pow2")
_MAX_SHIFT = 15
_LOG_FLOOR = -30.0  # log alpha for alpha = 0 (a full reset): exp(-30) ~ 1e-13, finite in every scan


def check_hardware_options(decay_fn: str, weight_bits: int | None, state_frac_bits: int | None) -> None:
    if decay_fn not in DECAY_FUNCTIONS:
        raise ValueError(f"decay_fn must be one of {', '.join(DECAY_FUNCTIONS)}, got {decay_fn!r}")
    if weight_bits is not None and not (isinstance(weight_bits, int) and 2 <= weight_bits <= 16):
        raise ValueError(f"weight_bits must be an integer in 2..16 (8 for int8) or None, got {weight_bits!r}")
    if state_frac_bits is not None and not (isinstance(state_frac_bits, int) and 0 <= state_frac_bits <= 24):
        raise ValueError(f"state_frac_bits must be an integer in 0..24 or None, got {state_frac_bits!r}")


def log_decay(logits: Tensor, tau: float, decay_fn: str) -> Tensor:
    """``log alpha`` for decay logits ``a'`` (any shape) under ``decay_fn`` (see the module doc)."""
    if decay_fn == "sigmoid":
        return F.logsigmoid(logits) / tau
    if decay_fn == "hard_sigmoid":
        return torch.log(torch.clamp(0.5 + 0.25 * logits, min=math.exp(_LOG_FLOOR * tau), max=1.0)) / tau
    if decay_fn == "pow2":
        smooth = F.logsigmoid(logits) / tau
        with torch.no_grad():
            one_minus = -torch.expm1(smooth)  # 1 - alpha, in (0, 1]
            shift = torch.clamp(torch.round(-torch.log2(one_minus)), 0, _MAX_SHIFT)
            rounded = torch.log1p(-torch.exp2(-shift)).clamp_min(_LOG_FLOOR)
        return smooth + (rounded - smooth).detach()
    raise ValueError(f"decay_fn must be one of {', '.join(DECAY_FUNCTIONS)}, got {decay_fn!r}")


def quantize_weight(weight: Tensor, bits: int | None) -> Tensor:
    """``weight`` ``[C, k]`` fake-quantised per channel (row), symmetric, ``bits`` bits, with a
    straight-through gradient; unchanged for ``bits=None``."""
    if bits is None:
        return weight
    levels = 2 ** (bits - 1) - 1
    scale = weight.detach().abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / levels
    quantized = torch.round(weight.detach() / scale).clamp(-levels, levels) * scale
    return weight + (quantized - weight).detach()


def round_state(h: Tensor, frac_bits: int) -> Tensor:
    """``h`` rounded to the nearest multiple of ``2^-frac_bits`` (``torch.round``: ties to even)."""
    scale = float(2**frac_bits)
    return torch.round(h * scale) / scale
