r"""One serial step of the causal-conv DSN in plain tensor ops that every exporter understands.

This is the deployable form of the neuron (spec section 4): the state is explicit,
``(H_{t-1}, last k-1 inputs)``, and every op has an ONNX equivalent (no ``expm1``/``logsigmoid``)::

    window  = [history; x_t]                                 [k, B, C, *]
    z       = b + sum_j w_j window_j                         decay logit
    s, 1-s  = sigmoid(z), sigmoid(-z)
    alpha   = s^n,  1 - alpha = (1 - s)(1 + s + ... + s^(n-1))   when 1/tau = n is 1, 2 or 4
              s^(1/tau) and 1 - s^(1/tau) otherwise
    H_t     = alpha H_{t-1} + (1 - alpha) x_t
    S_t     = clip(floor(H_t / V_th + 1/2), 0, N)   (N >= 2)   or   1[H_t / V_th >= 1/2]   (N = 1)

It computes what the parallel form computes, up to float rounding (no log-space clamp is needed:
``s`` is never exactly 0 in float32 for the logits a trained layer produces, and a decay of
``exp(-80)`` and one of 0 give the same state).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["dsn_step", "dsn_unrolled"]


def _per_channel(values: Tensor, like: Tensor) -> Tensor:
    """``[C]`` viewed to broadcast over ``[B, C, *]`` shaped like ``like``."""
    return values.view(-1, *([1] * (like.dim() - 2)))


def _decay(z: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    s, one_minus_s = torch.sigmoid(z), torch.sigmoid(-z)
    inv_tau = 1.0 / tau
    power = round(inv_tau)
    if abs(inv_tau - power) < 1e-12 and power in (1, 2, 4):
        alpha, geometric = s, torch.ones_like(s)
        for _ in range(power - 1):
            geometric = geometric + alpha
            alpha = alpha * s
        return alpha, one_minus_s * geometric
    alpha = torch.pow(s, inv_tau)
    return alpha, 1.0 - alpha


def _fire(q: Tensor, max_spike: int, dtype: torch.dtype) -> Tensor:
    if max_spike == 1:
        return (q >= 0.5).to(dtype)
    return torch.clamp(torch.floor(q + 0.5), 0.0, float(max_spike))


def dsn_step(
    x: Tensor,
    history: Tensor,
    h: Tensor,
    weight: Tensor,
    bias: Tensor,
    *,
    tau: float,
    v_threshold: float,
    max_spike: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """One step: ``(spikes [B, C, *], H_t [B, C, *], new history [k-1, B, C, *])``.

    Args:
        x: input ``[B, C, *]``; history: the previous ``k-1`` inputs ``[k-1, B, C, *]`` (zeros at the
            start); h: ``H_{t-1}`` ``[B, C, *]`` (zeros at the start).
        weight: decay conv ``[C, k]`` (tap 0 the oldest); bias: ``[C]``.
        tau: the decay exponent (``alpha = sigmoid(a')^(1/tau)``).
        v_threshold: the DSN's threshold ``V_th``.
        max_spike: the DSN's largest count ``N`` (binary firing when 1).
    """
    taps = weight.shape[1]
    window = torch.cat([history, x.unsqueeze(0)], dim=0) if taps > 1 else x.unsqueeze(0)
    z = _per_channel(bias, x)
    for j in range(taps):
        z = z + _per_channel(weight[:, j], x) * window[j]
    alpha, one_minus_alpha = _decay(z, tau)
    h_new = alpha * h + one_minus_alpha * x
    return _fire(h_new / v_threshold, max_spike, x.dtype), h_new, window[1:]


def dsn_unrolled(
    x_seq: Tensor, logits: Tensor, *, tau: float, v_threshold: float, max_spike: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The serial recurrence over ``x_seq`` ``[T, B, C, *]`` from a zero state, given the decay logits
    ``[T, B, C, *]`` (any generator's): ``(spikes, H, H_last)``. A traced graph of this is a correct
    fixed-``T`` model in plain ops."""
    alpha, one_minus_alpha = _decay(logits, tau)
    h = torch.zeros_like(x_seq[0])
    potentials = []
    for a_t, b_t, x_t in zip(alpha.unbind(0), one_minus_alpha.unbind(0), x_seq.unbind(0), strict=True):
        h = a_t * h + b_t * x_t
        potentials.append(h)
    h_seq = torch.stack(potentials)
    return _fire(h_seq / v_threshold, max_spike, x_seq.dtype), h_seq, h
