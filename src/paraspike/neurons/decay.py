r"""Decay-logit generators of the DSN: ``a'_t`` from the inputs (spec sections 2 and 5).

Every generator maps inputs ``x`` ``[T, B, C, *]`` (plus, for causal ones, the last
``history_length`` inputs of the previous chunk, ``[history_length, B, C, *]``, zeros before the
sequence start) to logits of the same shape. The DSN turns them into
``log alpha = logsigmoid(a') / tau``.

========================  ==================================================================
name                      logit at step t
========================  ==================================================================
``causal_conv`` (default) ``b_c + sum_j w_{c,j} x_{t-k+1+j, c}``: depthwise causal conv over time
``static``                ``b_c``: input-independent decay
``fc``                    ``W x_t + b`` over channels (DECIDED: current step only)
``low_rank``              ``U V x_t + b``, ``U`` ``[C, r]``, ``V`` ``[r, C]`` (DECIDED)
``channel_conv``          1-D conv of width k across the channel axis at step t (DECIDED)
enhanced (``mixing``)     ``W CausalConv(x)_t + b``: conv features mixed across neurons (DECIDED)
========================  ==================================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paraspike.neurons.hardware import quantize_weight

__all__ = [
    "DecayLogitGenerator",
    "CausalConvDecay",
    "StaticDecay",
    "LinearDecay",
    "LowRankDecay",
    "ChannelConvDecay",
    "EnhancedDecay",
    "DECAY_GENERATORS",
    "build_decay_generator",
]


def _per_channel(param: Tensor, x: Tensor) -> Tensor:
    """View a ``[C]`` parameter in ``x``'s dtype so that it broadcasts over ``[..., C, *spatial]``
    shaped like x."""
    return param.to(x.dtype).view(-1, *([1] * (x.dim() - 3)))


def _channels_last(x: Tensor) -> Tensor:
    """``[T, B, C, *]`` -> ``[T, B, *, C]`` (explicit, non-negative permutation: exporters accept it)."""
    return x.permute(0, 1, *range(3, x.dim()), 2)


def _channels_back(y: Tensor) -> Tensor:
    """The inverse of :func:`_channels_last`."""
    return y.permute(0, 1, y.dim() - 1, *range(2, y.dim() - 1))


def _mix_channels(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Apply ``weight`` ``[C_out, C_in]`` (cast to ``x``'s dtype) over dimension 2 of ``[T, B, C, *]``."""
    bias = None if bias is None else bias.to(x.dtype)
    return _channels_back(F.linear(_channels_last(x), weight.to(x.dtype), bias))


class DecayLogitGenerator(nn.Module):
    """Base class: ``forward(x, history) -> logits``; ``history_length`` past inputs are needed.

    Logits come out in ``x``'s dtype (the DSN passes its accumulation dtype); parameters are cast to it.
    """

    history_length: int = 0

    def forward(self, x: Tensor, history: Tensor | None) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class CausalConvDecay(DecayLogitGenerator):
    """Depthwise causal convolution over time with bias (the paper's default), kernel ``k``.

    Initialised as ``nn.Conv1d(C, C, k, groups=C)`` is: weight and bias uniform in
    ``(-1/sqrt(k), 1/sqrt(k))``.
    """

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.history_length = kernel_size - 1
        bound = 1 / math.sqrt(kernel_size)
        self.weight = nn.Parameter(torch.empty(channels, kernel_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound))
        self.weight_bits: int | None = None  # set by DSN(weight_bits=...): fake-quantised taps

    def forward(self, x: Tensor, history: Tensor | None) -> Tensor:
        k = self.kernel_size
        weight = quantize_weight(self.weight, self.weight_bits)
        if k > 1:
            if history is None:
                history = x.new_zeros((k - 1, *x.shape[1:]))
            x = torch.cat([history, x], dim=0)
        steps = x.shape[0] - (k - 1)
        logits = _per_channel(self.bias, x).expand(x[:steps].shape)
        for j in range(k):
            logits = torch.addcmul(logits, _per_channel(weight[:, j], x), x[j : j + steps])
        return logits

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[0]}, kernel_size={self.kernel_size}"


class StaticDecay(DecayLogitGenerator):
    """Input-independent decay: one learned logit per channel (the ablation's 'no conv')."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, history: Tensor | None) -> Tensor:
        return _per_channel(self.bias, x).expand(x.shape)


class LinearDecay(DecayLogitGenerator):
    """Fully connected over channels at the current step: ``W x_t + b``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, channels)

    def forward(self, x: Tensor, history: Tensor | None) -> Tensor:
        return _mix_channels(x, self.linear.weight, self.linear.bias)


class LowRankDecay(DecayLogitGenerator):
    """Low-rank map over channels at the current step: ``U (V x_t) + b``."""

    def __init__(self, channels: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(channels, rank, bias=False)
        self.up = nn.Linear(rank, channels)

    def forward(self, x: Tensor, history: Tensor | None) -> Tensor:
        return _mix_channels(_mix_channels(x, self.down.weight, None), self.up.weight, self.up.bias)


class ChannelConvDecay(DecayLogitGenerator):
    """A width-``k`` convolution across neighbouring channels at the current step, plus bias."""

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        bound = 1 / math.sqrt(kernel_size)
        self.weight = nn.Parameter(torch.empty(1, 1, kernel_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, history: Tensor | None) -> Tensor:
        moved = _channels_last(x)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        k = self.kernel_size
        flat = F.pad(flat, ((k - 1) // 2, k // 2))
        mixed = _channels_back(F.conv1d(flat, self.weight.to(x.dtype)).reshape(moved.shape))
        return mixed + _per_channel(self.bias, x)


class EnhancedDecay(DecayLogitGenerator):
    """Enhanced DSN: causal-conv features mixed across neurons (``fc`` or ``low_rank``)."""

    def __init__(self, channels: int, kernel_size: int = 4, mixing: str = "fc", rank: int | None = None) -> None:
        super().__init__()
        self.conv = CausalConvDecay(channels, kernel_size)
        self.history_length = self.conv.history_length
        if mixing == "fc":
            self.mix: DecayLogitGenerator = LinearDecay(channels)
        elif mixing == "low_rank":
            self.mix = LowRankDecay(channels, _default_rank(channels, rank))
        else:
            raise ValueError(f"unknown mixing {mixing!r} for the enhanced DSN; choose 'fc' or 'low_rank'")

    def forward(self, x: Tensor, history: Tensor | None) -> Tensor:
        return self.mix(self.conv(x, history), None)


def _default_rank(channels: int, rank: int | None) -> int:
    if rank is None:
        return max(1, channels // 4)
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    return rank


DECAY_GENERATORS = ("causal_conv", "static", "fc", "low_rank", "channel_conv")


def build_decay_generator(
    name: str,
    channels: int,
    kernel_size: int = 4,
    *,
    rank: int | None = None,
    enhanced: bool = False,
    mixing: str = "fc",
) -> DecayLogitGenerator:
    """Build a generator by name (see the module docstring); ``enhanced`` needs ``causal_conv``."""
    if name not in DECAY_GENERATORS:
        raise ValueError(f"unknown decay generator {name!r}; choose one of {', '.join(DECAY_GENERATORS)}")
    if enhanced:
        if name != "causal_conv":
            raise ValueError(f"the enhanced DSN mixes causal-conv features; decay={name!r} cannot be enhanced")
        return EnhancedDecay(channels, kernel_size, mixing, rank)
    if name == "causal_conv":
        return CausalConvDecay(channels, kernel_size)
    if name == "static":
        return StaticDecay(channels)
    if name == "fc":
        return LinearDecay(channels)
    if name == "low_rank":
        return LowRankDecay(channels, _default_rank(channels, rank))
    return ChannelConvDecay(channels, kernel_size)
