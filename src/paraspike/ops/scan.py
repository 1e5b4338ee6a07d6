r"""The linear-scan operator behind every parallel neuron in paraspike.

.. math:: h_t = e^{g_t} h_{t-1} + u_t, \qquad t = 0..T-1,\ h_{-1} = h_0

computed over dimension 0 (time) for any trailing shape. Backends share one signature and are
interchangeable; ``naive`` is the specification, every other backend is tested against it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from paraspike.kernels.cpu import cpu_kernel_unavailable_reason
from paraspike.kernels.triton_support import triton_unavailable_reason
from paraspike.ops._checks import check_float_tensor, working_dtype
from paraspike.ops.scan_chunked import linear_scan_chunked
from paraspike.ops.scan_cpu import linear_scan_cpu
from paraspike.ops.scan_fla import fla_unavailable_reason, linear_scan_fla
from paraspike.ops.scan_naive import linear_scan_naive
from paraspike.ops.scan_triton import linear_scan_triton

__all__ = [
    "linear_scan",
    "register_scan_backend",
    "available_scan_backends",
    "resolve_scan_backend",
    "check_scan_backend_name",
    "clear_backend_cache",
    "ScanBackend",
]

ScanFunction = Callable[[Tensor, Tensor, "Tensor | None", "int | None"], "tuple[Tensor, Tensor]"]


@dataclass(frozen=True)
class ScanBackend:
    """A registered scan implementation.

    Attributes:
        name: the name passed as ``backend=``.
        function: ``(u, log_decay, h0, chunk_size) -> (h, h_last)`` on working-dtype tensors.
        is_available: ``(device) -> None`` when the backend can run there, else a reason string.
        priority: higher wins when ``backend="auto"`` chooses among available backends.
        auto_devices: device types on which ``"auto"`` may choose it (``None``: any it runs on).
    """

    name: str
    function: ScanFunction
    is_available: Callable[[torch.device], str | None]
    priority: int
    auto_devices: tuple[str, ...] | None = None


_BACKENDS: dict[str, ScanBackend] = {}
_AUTO: dict[str, str] = {}  # device type -> the backend "auto" chose there (checking costs ~30 us)
_WARNED_FALLBACK: set[str] = set()


def register_scan_backend(
    name: str,
    function: ScanFunction,
    *,
    is_available: Callable[[torch.device], str | None] = lambda device: None,
    priority: int = 0,
    auto_devices: tuple[str, ...] | None = None,
) -> None:
    """Register a scan backend under ``name`` (replacing any backend of that name).

    ``auto_devices`` limits where ``backend="auto"`` may choose it (the Triton backend runs on the
    CPU under ``TRITON_INTERPRET=1``, but "auto" picks it on CUDA only)."""
    _BACKENDS[name] = ScanBackend(name, function, is_available, priority, auto_devices)
    _AUTO.clear()


def available_scan_backends(device: torch.device | str = "cpu") -> list[str]:
    """Names of the backends that can run on ``device``, best first."""
    device = torch.device(device)
    usable = [b for b in _BACKENDS.values() if b.is_available(device) is None]
    return [b.name for b in sorted(usable, key=lambda b: -b.priority)]


def _auto_choice(device: torch.device) -> str:
    if device.type in _AUTO:
        return _AUTO[device.type]
    for name in available_scan_backends(device):
        allowed = _BACKENDS[name].auto_devices
        if allowed is None or device.type in allowed:
            _warn_if_fallback(device, name)
            _AUTO[device.type] = name
            return name
    raise RuntimeError(f"no scan backend can run on {device}")  # "naive" runs anywhere: not reached


def _warn_if_fallback(device: torch.device, chosen: str) -> None:
    """Warn once when "auto" on the CPU cannot use the fused kernel for a reason the user did not choose
    (no compiler, failed build): results then come from another code path, slower and not bit-equal."""
    if device.type != "cpu" or chosen == "cpu" or "cpu" not in _BACKENDS or "cpu" in _WARNED_FALLBACK:
        return
    reason = _BACKENDS["cpu"].is_available(device)
    if reason is None or "PARASPIKE_CPU_KERNEL=0" in reason:
        return
    _WARNED_FALLBACK.add("cpu")
    warnings.warn(
        f"paraspike: backend='auto' uses {chosen!r} on the CPU because the fused CPU kernel is unavailable "
        f"({reason}). It is several times slower, and results differ from the kernel's by float rounding "
        "(recorded as 'backend' in training metrics). Set PARASPIKE_CPU_KERNEL=0 to choose this silently.",
        RuntimeWarning,
        stacklevel=3,
    )


def clear_backend_cache() -> None:
    """Forget which backend ``"auto"`` chose per device type (after changing what is installed)."""
    _AUTO.clear()


def check_scan_backend_name(backend: str) -> None:
    """Raise ``ValueError`` unless ``backend`` is ``"auto"`` or a registered backend's name."""
    if backend != "auto" and backend not in _BACKENDS:
        known = ", ".join(sorted(_BACKENDS)) + ", auto"
        raise ValueError(f"unknown scan backend {backend!r}; choose one of: {known}")


def resolve_scan_backend(backend: str, device: torch.device | str) -> str:
    """Turn ``backend`` (a name or ``"auto"``) into the name of a backend that runs on ``device``.

    Raises:
        ValueError: the name is unknown.
        RuntimeError: the backend was asked for explicitly but cannot run on ``device``.
    """
    check_scan_backend_name(backend)
    device = torch.device(device)
    if backend == "auto":
        return _auto_choice(device)
    reason = _BACKENDS[backend].is_available(device)
    if reason is not None:
        raise RuntimeError(f"scan backend {backend!r} cannot run on {device}: {reason}")
    return backend


register_scan_backend("naive", lambda u, g, h0, chunk: linear_scan_naive(u, g, h0), priority=0)
register_scan_backend("chunked", linear_scan_chunked, priority=10)
register_scan_backend("cpu", linear_scan_cpu, is_available=cpu_kernel_unavailable_reason, priority=20)
register_scan_backend(
    "triton", linear_scan_triton, is_available=triton_unavailable_reason, priority=30, auto_devices=("cuda",)
)
register_scan_backend("fla", linear_scan_fla, is_available=fla_unavailable_reason, priority=5, auto_devices=())


def linear_scan(
    u: Tensor,
    log_decay: Tensor,
    h0: Tensor | None = None,
    *,
    backend: str = "auto",
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    r"""All states of :math:`h_t = e^{g_t} h_{t-1} + u_t` over dimension 0.

    Args:
        u: inputs ``[T, *]`` (any trailing shape), floating point.
        log_decay: ``g = log(decay)`` ``[T, *]``, same shape, dtype and device as ``u``.
            Values ``<= 0`` give a decay in (0, 1]; the scan itself does not require it.
        h0: initial state ``[*]`` (the trailing shape) or ``None`` for zeros.
        backend: ``"auto"`` (the best available for the device: ``"triton"`` on CUDA, ``"cpu"``
            on the CPU), ``"naive"``, ``"chunked"``, ``"cpu"`` (the compiled CPU kernel,
            :mod:`paraspike.kernels.cpu`), ``"triton"`` (:mod:`paraspike.kernels.triton_dsn`),
            ``"fla"`` (flash-linear-attention's HGRN kernel, if installed: a peer to compare
            with, never chosen by "auto"), or any name added with :func:`register_scan_backend`.
        chunk_size: steps per chunk for chunked backends (``None``: about ``sqrt(T/4)``).

    Returns:
        ``(h, h_last)``: ``h`` ``[T, *]`` and the final state ``h_last = h[-1]`` ``[*]``, in the
        dtype of ``u``. float16/bfloat16 inputs are accumulated in float32.

    Gradients flow to ``u``, ``log_decay`` and ``h0``.
    """
    check_float_tensor("u", u, min_dim=1)
    check_float_tensor("log_decay", log_decay, min_dim=1)
    if log_decay.shape != u.shape:
        raise ValueError(f"log_decay must have the shape of u {tuple(u.shape)}, got {tuple(log_decay.shape)}")
    if log_decay.dtype != u.dtype or log_decay.device != u.device:
        raise ValueError(
            f"u and log_decay must share dtype and device, got {u.dtype}/{u.device} and "
            f"{log_decay.dtype}/{log_decay.device}"
        )
    if u.shape[0] == 0:
        raise ValueError("u has no time steps (dimension 0 has size 0)")
    if h0 is not None:
        check_float_tensor("h0", h0)
        if h0.shape != u.shape[1:]:
            raise ValueError(
                f"h0 must have the trailing shape of u {tuple(u.shape[1:])} (u is [T, *]), got {tuple(h0.shape)}"
            )
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")

    name = resolve_scan_backend(backend, u.device)
    compute = working_dtype(u.dtype)
    u_w, g_w = u.to(compute), log_decay.to(compute)
    h0_w = None if h0 is None else h0.to(device=u.device, dtype=compute)
    h, h_last = _BACKENDS[name].function(u_w, g_w, h0_w, chunk_size)
    return h.to(u.dtype), h_last.to(u.dtype)
