r"""Spike-driven execution of any model: every synaptic operation on integer spike counts runs on
binary spikes.

:func:`to_spike_driven` rewrites ``nn.Sequential`` chains. For other networks (residual SEW blocks,
spiking self-attention, GLUs, pooling) :func:`run_spike_driven` runs the model as it is, intercepting
each synaptic call (``F.linear``, ``F.conv1d/2d/3d``, ``matmul``/``bmm``/``@``) and classifying its
activation operand:

- binary (0/1): it runs unchanged;
- integer counts ``S in {0..M}``, ``M >= 2``: it runs on the ``M`` front-loaded binary planes
  ``s_u = 1[S > u]`` (``u = 0..M-1``, so ``S = sum_u s_u``) without bias, summed, with the bias added
  once: ``W S + b = sum_u W s_u + b`` (exact, as the op is linear). A product of two count operands
  (spiking attention ``Q K^T``) runs on every pair of planes;
- counts divided by a small integer ``d <= 64`` (average pooling of spikes, a mean over time steps):
  ``W (C / d) = (1/d) W C``, run on the planes of the counts ``C`` with the weight scaled by ``1/d``
  (a chip folds the scale into the weights); reported as ``"scaled"``;
- anything else (a real-valued input such as the first layer's pixels, a layer-normalised float, a
  float GLU branch): it runs unchanged and is reported as not spike-driven, or raises with the layer's
  name under ``strict=True``. FFT convolutions (the S4D layer) are reported the same way.

Max pooling needs nothing: it commutes with the front-loaded expansion
(``sum_u max_i 1[S_i > u] = max_i S_i``). A residual addition of spikes (SEW ``ADD``) yields counts
again, which the next synapse expands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from paraspike.nn.module_stack import module_stack

__all__ = ["SpikeDrivenCall", "SpikeDrivenReport", "run_spike_driven"]

_CONVS = (F.conv1d, F.conv2d, F.conv3d)
_MATMULS = (torch.matmul, Tensor.matmul, Tensor.__matmul__, torch.bmm)


@dataclass
class SpikeDrivenCall:
    """One synaptic call: the innermost module, the op, what its activation operand held."""

    layer: str
    op: str
    operand: str  # "binary", "integer" (expanded into max_count planes), "scaled" (counts / divisor) or "real"
    max_count: int
    divisor: int = 1
    operand_values: list[float] | None = None  # with audit=True: the distinct values the op itself received


@dataclass
class SpikeDrivenReport:
    calls: list[SpikeDrivenCall] = field(default_factory=list)

    def not_spike_driven(self) -> list[SpikeDrivenCall]:
        """The calls whose operand was real-valued (they did not run on spikes)."""
        return [c for c in self.calls if c.operand == "real"]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.operand] = counts.get(call.operand, 0) + 1
        return counts


_MAX_DIVISOR = 64


def _classify(x: Tensor) -> tuple[str, int, int]:
    """``(kind, largest count, divisor)`` of an activation operand (see the module doc)."""
    if not x.is_floating_point() or x.numel() == 0:
        return "real", 0, 1
    with torch._C.DisableTorchFunction():
        if not bool(torch.isfinite(x).all()) or bool((x < 0).any()):
            return "real", 0, 1
        if bool((x == torch.floor(x)).all()):
            top = int(x.max().item())
            return ("binary" if top <= 1 else "integer"), top, 1
        for divisor in range(2, _MAX_DIVISOR + 1):
            scaled = x.double() * divisor
            if bool(((scaled - scaled.round()).abs() < 1e-4).all()):
                return "scaled", int(scaled.round().max().item()), divisor
    return "real", 0, 1


def _counts(x: Tensor, divisor: int) -> Tensor:
    with torch._C.DisableTorchFunction():
        return (x.double() * divisor).round().to(x.dtype) if divisor > 1 else x


def _planes(x: Tensor, count: int) -> list[Tensor]:
    with torch._C.DisableTorchFunction():
        return [(x > u).to(x.dtype) for u in range(count)]


class _SpikeDrivenMode(TorchFunctionMode):
    def __init__(
        self, report: SpikeDrivenReport, stack: list[str], strict: bool, allowed_real: set[str], audit: bool
    ) -> None:
        super().__init__()
        self.report, self.stack, self.strict, self.allowed_real = report, stack, strict, allowed_real
        self.audit = audit

    def _seen(self, *operands: Tensor) -> None:
        """With ``audit``: note the distinct values of the operands an op is about to receive."""
        if not self.audit:
            return
        call = self.report.calls[-1]
        with torch._C.DisableTorchFunction():
            values = {float(v) for t in operands for v in torch.unique(t.detach()).tolist()}
        call.operand_values = sorted(values | set(call.operand_values or []))

    def _record(self, op: str, kind: str, top: int, divisor: int = 1) -> None:
        layer = self.stack[-1] if self.stack else "(top)"
        self.report.calls.append(SpikeDrivenCall(layer, op, kind, top, divisor))
        if kind == "real" and self.strict and layer not in self.allowed_real:
            raise ValueError(
                f"run_spike_driven: layer {layer!r} ({op}) receives real-valued input, so it cannot run on spikes. "
                "Make its input the output of a spiking neuron, or list it in allow_real= (for example the "
                "first layer, which reads the raw input)."
            )

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.linear or func in _CONVS:
            return self._synapse(func, args, kwargs)
        if func in _MATMULS:
            return self._matmul(func, args, kwargs)
        if func in (torch.fft.rfft, torch.fft.fft):
            self._record("fft", "real", 0)
        return func(*args, **kwargs)

    def _synapse(self, func: Callable, args: tuple, kwargs: dict) -> Tensor:
        x, weight = args[0], args[1]
        kind, top, divisor = _classify(x)
        self._record("linear" if func is F.linear else func.__name__, kind, top, divisor)
        if kind in ("binary", "real"):
            self._seen(x)
            return func(*args, **kwargs)
        x = _counts(x, divisor)
        rest = list(args)
        bias = rest[2] if len(rest) > 2 else kwargs.pop("bias", None)
        if len(rest) > 2:
            rest[2] = None
        else:
            kwargs["bias"] = None
        total = None
        for plane in _planes(x, top):
            self._seen(plane)
            part = func(plane, weight, *rest[2:], **kwargs)
            total = part if total is None else total + part
        if divisor > 1:
            total = total / divisor
        if bias is None:
            return total
        if func in _CONVS:  # [B, C_out, *spatial]: the bias per channel
            return total + bias.view(-1, *[1] * (total.dim() - 2))
        return total + bias

    def _matmul(self, func: Callable, args: tuple, kwargs: dict) -> Tensor:
        a, b = args[0], args[1]
        (kind_a, top_a, div_a), (kind_b, top_b, div_b) = _classify(a), _classify(b)
        spiking = [k for k in (kind_a, kind_b) if k != "real"]
        kind = "real" if not spiking else next(k for k in ("scaled", "integer", "binary") if k in spiking)
        self._record("matmul", kind, max(top_a, top_b), div_a * div_b)
        expand_a, expand_b = kind_a in ("integer", "scaled"), kind_b in ("integer", "scaled")
        if not expand_a and not expand_b:
            self._seen(*[t for t, k in ((a, kind_a), (b, kind_b)) if k != "real"])
            return func(a, b, **kwargs)
        planes_a = _planes(_counts(a, div_a), top_a) if expand_a else [a]
        planes_b = _planes(_counts(b, div_b), top_b) if expand_b else [b]
        total = None
        for pa in planes_a:
            for pb in planes_b:
                self._seen(*[t for t, k in ((pa, kind_a), (pb, kind_b)) if k != "real"])
                part = func(pa, pb, **kwargs)
                total = part if total is None else total + part
        scale = (div_a if expand_a else 1) * (div_b if expand_b else 1)
        return total / scale if scale > 1 else total


def run_spike_driven(
    model: nn.Module, *inputs: Any, strict: bool = False, allow_real: tuple[str, ...] = (), audit: bool = False
) -> tuple[Any, SpikeDrivenReport]:
    """``(model(*inputs), report)`` with every synaptic op on integer counts run on binary planes (see
    the module doc). ``strict``: raise, naming the layer, when a synaptic op outside ``allow_real``
    (module paths as in ``named_modules``) receives real-valued input. ``audit``: record the distinct
    values each op received on its spike operands (slow; for checking)."""
    report = SpikeDrivenReport()
    with module_stack(model) as stack, torch.no_grad(), _SpikeDrivenMode(report, stack, strict, set(allow_real), audit):
        out = model(*inputs)
    return out, report
