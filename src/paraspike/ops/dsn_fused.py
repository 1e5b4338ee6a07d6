r"""The whole DSN layer (causal-conv decay) as one fused CPU kernel call, forward and backward.

For ``x`` ``[T, B, C, *]`` with conv ``weight`` ``[C, k]`` and ``bias`` ``[C]`` (tap ``j = 0`` the
oldest), one sequential pass per block of neurons computes::

    z_t = b + sum_j w_j x_{t-(k-1)+j}         (x_{<0} from ``history`` [k-1, B, C, *], zeros if None)
    log alpha_t = logsigmoid(z_t) / tau
    H_t = alpha_t H_{t-1} + (1 - alpha_t) x_t
    S_t = clip(floor(H_t / V_th + 1/2), 0, N)   (N >= 2)   or   1[H_t / V_th >= 1/2]   (N = 1)

and one reverse pass computes the gradients of ``x``, ``history``, ``h0``, ``weight`` and ``bias``
(spec section 3 plus the chain rule through the conv: ``dx_t`` gathers the ``k`` logits that read
``x_t``). Saved for backward: the input, the small parameters and, with ``k <= 4`` taps, ``H`` at each
32-step tile's last step but the sequence's (none up to 32 steps): the reverse pass recomputes ``H`` and
the decays from ``x``, a tile at a time from those checkpoints. With ``k > 4`` taps, or
``PARASPIKE_RECOMPUTE_H=0``, ``H`` is saved whole and the logits and decays are recomputed. ``H`` is
written whole only when returned (``store_h``) or saved.

The op is ``torch.ops.paraspike.dsn_cpu`` (:mod:`paraspike.kernels.cpu`): one dispatcher call each way,
autograd in C++, a fake implementation for ``torch.compile``/``torch.export``. It is the same function
as :class:`paraspike.neurons.DSN` with ``decay="causal_conv"`` on the ``naive``/``chunked`` backends;
the tests compare them (values and all gradients).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paraspike.kernels.cpu import cpu_kernels
from paraspike.ops._dsn_layout import SURROGATE_IDS

__all__ = ["dsn_fused_cpu"]


def dsn_fused_cpu(
    x: Tensor,
    history: Tensor | None,
    h0: Tensor | None,
    weight: Tensor,
    bias: Tensor,
    *,
    tau: float,
    v_threshold: float,
    max_spike: int,
    surrogate: str = "atan",
    surrogate_alpha: float = 2.0,
    store_h: bool = False,
) -> tuple[Tensor, Tensor | None, Tensor]:
    """Spikes, membrane potentials and final state of a causal-conv DSN on the CPU kernel.

    Args:
        x: inputs ``[T, B, C, *]`` on the CPU (float32, float64, or float16/bfloat16 computed in float32).
        history: the ``k-1`` inputs before ``x`` ``[k-1, B, C, *]`` or ``None`` (zeros).
        h0: initial membrane potential ``[B, C, *]`` or ``None`` (zeros).
        weight: conv weight ``[C, k]``; bias: ``[C]``.
        tau: the decay exponent (``alpha = sigmoid(a')^(1/tau)``).
        v_threshold: the DSN's threshold ``V_th``.
        max_spike: the DSN's largest count ``N`` (binary firing when 1).
        surrogate: binary firing's surrogate gradient.
        surrogate_alpha: the surrogate's sharpness (``None``: its default).
        store_h: return the membrane potentials ``H`` (else ``None``).

    Returns:
        ``(spikes, h, h_last)``: spikes ``[T, B, C, *]`` in ``x.dtype``; ``h`` ``[T, B, C, *]`` (or
        ``None``) and ``h_last`` ``[B, C, *]`` in the accumulation dtype (float32 for half inputs).
    """
    cpu_kernels()
    spikes, h, h_last = torch.ops.paraspike.dsn_cpu(
        x,
        history,
        h0,
        weight,
        bias,
        float(tau),
        float(v_threshold),
        int(max_spike),
        SURROGATE_IDS[surrogate],
        float(surrogate_alpha),
        store_h,
    )
    return spikes, (h if store_h else None), h_last
