r"""Firing functions: membrane potential ``H`` to spikes, with surrogate gradients.

With :math:`x = H / V_{th}`:

* integer firing (``max_spike = N >= 1``): :math:`S = \mathrm{clip}(\lfloor x + 1/2 \rfloor, 0, N)`,
  backward is the rectangular straight-through gradient
  :math:`\partial S/\partial H = \mathbb{1}[0 \le x \le N] / V_{th}`;
* binary firing (``N = 1``): :math:`S = \mathbb{1}[x \ge 1/2]`, backward is a surrogate
  :math:`\sigma'(x - 1/2) / V_{th}`.

A NaN potential gives a NaN spike in both modes (PyTorch's convention for invalid values).

Rounding is half-up (``floor(x + 0.5)``), DECIDED so that integer firing with ``N = 1`` and
binary firing agree exactly at ``x = 0.5`` (``torch.round`` rounds half to even).

Surrogates (``z = x - 1/2``; each integrates to 1 over ``z``; ``alpha`` sets the peak height):

============  ===========================================  ==========  ============
name          derivative                                   peak        default alpha
============  ===========================================  ==========  ============
``atan``      ``alpha/2 / (1 + (pi/2 * alpha * z)^2)``     ``alpha/2``  2.0
``sigmoid``   ``alpha * s * (1 - s)``, ``s = sigmoid(alpha z)``  ``alpha/4``  4.0
``rect``      ``alpha`` where ``|z| < 1/(2 alpha)``        ``alpha``    1.0
============  ===========================================  ==========  ============
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from paraspike.ops._checks import check_positive_int

__all__ = [
    "integer_fire",
    "binary_fire",
    "spike_fire",
    "heaviside",
    "round_count_fire",
    "SURROGATES",
    "surrogate_gradient",
    "check_surrogate_name",
    "resolve_surrogate_alpha",
]

SURROGATES: dict[str, float] = {"atan": 2.0, "sigmoid": 4.0, "rect": 1.0}
"""Surrogate names and their default ``alpha``."""


def check_surrogate_name(surrogate: str) -> None:
    """Raise ``ValueError`` unless ``surrogate`` is one of :data:`SURROGATES`."""
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}; choose one of {sorted(SURROGATES)}")


def surrogate_gradient(z: Tensor, surrogate: str, alpha: float) -> Tensor:
    """The surrogate derivative ``dS/dz`` at ``z = H/V_th - 1/2`` (see the module docstring)."""
    if surrogate == "atan":
        return (alpha / 2) / (1 + (math.pi / 2 * alpha * z) ** 2)
    if surrogate == "sigmoid":
        s = torch.sigmoid(alpha * z)
        return alpha * s * (1 - s)
    if surrogate == "rect":
        return (z.abs() < 1 / (2 * alpha)).to(z.dtype) * alpha
    check_surrogate_name(surrogate)
    raise AssertionError(f"surrogate {surrogate!r} is listed in SURROGATES but has no formula")


class _IntegerFire(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: Tensor, v_threshold: float, max_spike: int) -> Tensor:
        x = h / v_threshold
        ctx.save_for_backward(x)
        ctx.v_threshold, ctx.max_spike = v_threshold, max_spike
        return torch.floor(x + 0.5).clamp_(0, max_spike)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        window = (x >= 0) & (x <= ctx.max_spike)
        return grad * window.to(grad.dtype) / ctx.v_threshold, None, None


class _BinaryFire(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: Tensor, v_threshold: float, surrogate: str, alpha: float) -> Tensor:
        z = h / v_threshold - 0.5
        ctx.save_for_backward(z)
        ctx.v_threshold, ctx.surrogate, ctx.alpha = v_threshold, surrogate, alpha
        # clip(floor(z) + 1, 0, 1) is exactly 1[z >= 0] for any number and keeps NaN as NaN
        return torch.floor(z).add_(1).clamp_(0, 1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (z,) = ctx.saved_tensors
        slope = surrogate_gradient(z, ctx.surrogate, ctx.alpha)
        return grad * slope / ctx.v_threshold, None, None, None


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, surrogate: str, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate, ctx.alpha = surrogate, alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad * surrogate_gradient(x, ctx.surrogate, ctx.alpha), None, None


class _RoundCount(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, max_spike: int) -> Tensor:
        ctx.save_for_backward(x)
        ctx.max_spike = max_spike
        return torch.round(torch.clamp(x, 0, max_spike))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ((x >= 0) & (x <= ctx.max_spike)).to(grad.dtype), None


def resolve_surrogate_alpha(surrogate: str, alpha: float | None) -> float:
    """``alpha``, or the surrogate's default when ``None``; raises on an unknown name or ``alpha <= 0``."""
    check_surrogate_name(surrogate)
    alpha = SURROGATES[surrogate] if alpha is None else float(alpha)
    if not alpha > 0:
        raise ValueError(f"surrogate alpha must be > 0, got {alpha!r}")
    return alpha


def heaviside(x: Tensor, surrogate: str = "atan", alpha: float | None = None) -> Tensor:
    """Binary spikes ``1[x >= 0]`` with a surrogate gradient at ``x`` (SpikingJelly's convention:
    its ``surrogate.ATan()`` is ``("atan", 2.0)``, ``surrogate.Sigmoid()`` is ``("sigmoid", 4.0)``)."""
    return _Heaviside.apply(x, surrogate, resolve_surrogate_alpha(surrogate, alpha))


def round_count_fire(x: Tensor, max_spike: int) -> Tensor:
    """Multi-level spike counts ``round(clamp(x, 0, N))`` (round half to even, as SpikingJelly's
    ``MultiLevelSpikeCount``), straight-through gradient where ``0 <= x <= N``."""
    check_positive_int("max_spike", max_spike)
    return _RoundCount.apply(x, max_spike)


def _check_threshold(v_threshold: float) -> None:
    if not (isinstance(v_threshold, (int, float)) and v_threshold > 0 and math.isfinite(v_threshold)):
        raise ValueError(f"v_threshold must be a finite number > 0, got {v_threshold!r}")


def integer_fire(h: Tensor, v_threshold: float = 1.0, max_spike: int = 4) -> Tensor:
    """Integer spike counts ``clip(floor(h/v_threshold + 0.5), 0, max_spike)``, rect STE backward.

    Args:
        h: membrane potential, any shape.
        v_threshold: threshold ``V_th > 0``.
        max_spike: the largest count ``N >= 1``.

    Returns:
        spike counts, same shape and dtype as ``h`` (integer-valued floats).
    """
    _check_threshold(v_threshold)
    check_positive_int("max_spike", max_spike)
    return _IntegerFire.apply(h, float(v_threshold), max_spike)


def binary_fire(h: Tensor, v_threshold: float = 1.0, surrogate: str = "atan", alpha: float | None = None) -> Tensor:
    """Binary spikes ``1[h/v_threshold >= 0.5]`` with a surrogate gradient.

    Args:
        h: membrane potential, any shape.
        v_threshold: threshold ``V_th > 0``.
        surrogate: ``"atan"`` (default), ``"sigmoid"`` or ``"rect"``.
        alpha: surrogate sharpness; ``None`` uses the surrogate's default (:data:`SURROGATES`).
    """
    _check_threshold(v_threshold)
    alpha = resolve_surrogate_alpha(surrogate, alpha)
    return _BinaryFire.apply(h, float(v_threshold), surrogate, alpha)


def spike_fire(
    h: Tensor,
    v_threshold: float = 1.0,
    max_spike: int = 4,
    surrogate: str = "atan",
    alpha: float | None = None,
) -> Tensor:
    """Integer firing when ``max_spike >= 2``, binary firing with ``surrogate`` when it is 1."""
    if max_spike == 1:
        return binary_fire(h, v_threshold, surrogate, alpha)
    return integer_fire(h, v_threshold, max_spike)
