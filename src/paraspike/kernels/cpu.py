"""Build and load the fused CPU kernels (``csrc/``), once per environment.

The kernels are ``torch.library`` operators (``paraspike::dsn_cpu``, ``paraspike::scan_cpu`` and
their backwards, with C++ autograd), compiled on first use with PyTorch's own extension tooling
(:func:`torch.utils.cpp_extension.load`: a C++17 compiler and ninja are needed) for the CPU they run
on (``-O3 -march=native``), then loaded into the process with ``torch.ops.load_library``. Their fake
(meta) implementations are registered here, so ``torch.compile`` and ``torch.export`` trace them as
single ops.

The build is cached under ``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``) in a
folder named after everything the binary depends on: the kernel sources, the compiler flags, the
torch and Python versions, the Python environment (``sys.prefix``: builds embed its include paths)
and the CPU's instruction set. Each environment therefore builds once (about half a minute) and
later processes load the library in well under a second; a message is logged whenever a build starts.

Set ``PARASPIKE_CPU_KERNEL=0`` to never build or use them; ``backend="auto"`` then falls back to the
pure-PyTorch ``chunked`` backend (with a warning when the fallback is caused by a failed build).
Build ahead of time with ``paraspike build-kernels``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path

import torch

__all__ = [
    "cpu_kernels",
    "cpu_kernel_unavailable_reason",
    "build_key",
    "output_cache_stats",
    "release_output_cache",
    "SOURCE_DIR",
]

SOURCE_DIR = Path(__file__).with_name("csrc")
CHECKPOINT_STEPS = 32  # kTile in csrc/strip_kernels.h: steps per H checkpoint of the recomputing backward
_SOURCES = ("paraspike_cpu.cpp",)
# No -ffast-math: IEEE semantics keep NaN propagating through min/max/compares (csrc/common.h writes out
# the vectorisable exp it needs). gnu++17 keeps GCC's default FMA contraction; errno/trapping off lets
# the vectoriser treat floor/min/max/sqrt as plain instructions.
_FLAGS = [
    "-O3",
    "-march=native",
    "-std=gnu++17",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fno-loop-interchange",
    "-fno-loop-unroll-and-jam",
    "-fopenmp",
]
# -fopenmp: at::parallel_for is header-inline OpenMP in PyTorch's CPU builds; without it the kernels run
# on one thread. The built library then needs libgomp.so.1, which resolves to the copy torch has loaded.
_LINK_FLAGS = ["-fopenmp"]

_logger = logging.getLogger(__name__)
_lock = threading.Lock()
_library: str | None = None
_failure: str | None = None


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def build_key() -> str:
    """The name of the build for this environment: a digest of the kernel sources, compiler flags,
    torch and Python versions, ``sys.prefix`` and the CPU's instruction set (``-march=native`` code
    must not be loaded on a machine of another CPU type)."""
    digest = hashlib.sha1()
    for path in sorted(SOURCE_DIR.iterdir()):
        if path.suffix in (".cpp", ".h"):
            digest.update(path.name.encode() + path.read_bytes())
    for part in (*_FLAGS, *_LINK_FLAGS, torch.__version__, sys.version, sys.prefix, platform.machine(), _cpu_flags()):
        digest.update(part.encode())
    return f"paraspike_cpu_{digest.hexdigest()[:16]}"


def _static_reason() -> str | None:
    """Why the kernels cannot be built here, without building them (``None``: they can be tried)."""
    if os.environ.get("PARASPIKE_CPU_KERNEL", "1").strip().lower() in ("0", "false", "no", "off"):
        return "disabled by PARASPIKE_CPU_KERNEL=0"
    missing = [name for name in _SOURCES if not (SOURCE_DIR / name).is_file()]
    if missing:
        return f"kernel sources {missing} are missing from the installation ({SOURCE_DIR})"
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler found ({compiler!r} is not on PATH; install g++ or set CXX)"
    from torch.utils.cpp_extension import is_ninja_available

    if not is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    return None


def _register_fakes() -> None:
    """Shapes and dtypes of the ops' outputs without running them (torch.compile, torch.export)."""

    def accumulation(dtype: torch.dtype) -> torch.dtype:
        return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype

    @torch.library.register_fake("paraspike::dsn_cpu")
    def _(
        x,
        history,
        h0,
        weight,
        bias,
        tau,
        v_threshold,
        max_spike,
        surrogate,
        surrogate_alpha,
        store_h,
        checkpoint_h=False,
    ):
        acc = accumulation(x.dtype)
        if store_h:
            h = x.new_empty(x.shape, dtype=acc)
        elif checkpoint_h:  # H at each 32-step tile's last step but the sequence's
            h = x.new_empty((max(x.shape[0] - 1, 0) // CHECKPOINT_STEPS, *x.shape[1:]), dtype=acc)
        else:
            h = x.new_empty((0,), dtype=acc)
        return torch.empty_like(x), h, x.new_empty(x.shape[1:], dtype=acc)

    @torch.library.register_fake("paraspike::dsn_cpu_backward")
    def _(grad_s, grad_h, grad_last, x, history, h0, h, weight, bias, *config_and_needs):
        need_dx, need_dhistory, need_dh0 = config_and_needs[-3:]
        acc = accumulation(x.dtype)
        empty = x.new_empty((0,), dtype=acc)
        return (
            torch.empty_like(x) if need_dx else empty,
            torch.empty_like(history) if need_dhistory and history is not None else empty,
            torch.empty_like(h0) if need_dh0 and h0 is not None else empty,
            torch.empty_like(weight),
            torch.empty_like(bias),
        )

    @torch.library.register_fake("paraspike::scan_cpu")
    def _(u, log_decay, h0):
        return torch.empty_like(u)

    @torch.library.register_fake("paraspike::scan_cpu_backward")
    def _(grad_h, log_decay, h, h0, need_dh0):
        dh0 = torch.empty_like(h0) if need_dh0 and h0 is not None else h.new_empty((0,))
        return torch.empty_like(log_decay), torch.empty_like(log_decay), dh0


def cpu_kernels() -> str:
    """Build (if needed) and load the kernel library; returns its path. The ops are then
    ``torch.ops.paraspike.dsn_cpu`` etc.

    Raises:
        RuntimeError: the kernels cannot be built here; the message says why and what to do.
    """
    global _library, _failure
    if _library is not None:
        return _library
    with _lock:
        if _library is not None:
            return _library
        if _failure is not None:
            raise RuntimeError(_failure)
        reason = _static_reason()
        if reason is not None:
            _failure = f"paraspike CPU kernels unavailable: {reason}"
            raise RuntimeError(_failure)
        from torch.utils.cpp_extension import _get_build_directory, load

        name = build_key()
        building = not any(Path(_get_build_directory(name, verbose=False)).glob(f"{name}*.so"))
        if building:
            _logger.warning(
                "paraspike: compiling the fused CPU kernels for this environment (once, about 30 s; "
                "`paraspike build-kernels` does it ahead of time)"
            )
        start = time.perf_counter()
        try:
            _library = load(
                name=name,
                sources=[str(SOURCE_DIR / source) for source in _SOURCES],
                extra_cflags=_FLAGS,
                extra_ldflags=_LINK_FLAGS,
                is_python_module=False,
                verbose=os.environ.get("PARASPIKE_VERBOSE_BUILD") == "1",
            )
        except Exception as error:  # the compiler's message is in the exception text
            _failure = (
                "paraspike CPU kernels failed to build (run with PARASPIKE_VERBOSE_BUILD=1 for the full log; "
                f"PARASPIKE_CPU_KERNEL=0 disables them): {error}"
            )
            raise RuntimeError(_failure) from error
        if building:
            _logger.warning("paraspike: CPU kernels built in %.0f s", time.perf_counter() - start)
        _register_fakes()
        return _library


def cpu_kernel_unavailable_reason(device: torch.device) -> str | None:
    """``None`` when the kernels run on ``device`` (building them if needed), else the reason."""
    if device.type != "cpu":
        return f"the fused CPU kernels run on CPU tensors only, not {device.type}"
    try:
        cpu_kernels()
    except RuntimeError as error:
        return str(error)
    return None


def output_cache_stats() -> dict[str, int]:
    """The fused kernel's output pool (``csrc/output_pool.h``): outputs of 256 KiB or more (spikes, ``H``,
    the final state, ``dx``) come from blocks (2 MiB-aligned from 2 MiB up) that return to a free list
    when their tensor is freed, so a training loop's next step reuses them instead of faulting on fresh
    pages.
    ``PARASPIKE_OUTPUT_CACHE_MB`` (read when the kernels load; default 1024, 0 turns the pool off) caps the
    free list.

    Returns:
        ``held_bytes`` (in the free list now), ``hits`` (requests served from it), ``misses`` (requests that
        allocated a block) and ``dropped`` (blocks freed because the free list was full).
    """
    cpu_kernels()
    held, hits, misses, dropped = torch.ops.paraspike.cpu_output_cache_stats()
    return {"held_bytes": held, "hits": hits, "misses": misses, "dropped": dropped}


def release_output_cache() -> None:
    """Frees the blocks in the output pool's free list (what :func:`output_cache_stats` calls ``held_bytes``)."""
    cpu_kernels()
    torch.ops.paraspike.release_cpu_output_cache()
