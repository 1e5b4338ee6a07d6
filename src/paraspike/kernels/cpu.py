"""Build and load the fused CPU kernels (``csrc/paraspike_cpu.cpp``), once per machine.

The kernels are compiled on first use with PyTorch's own extension tooling
(:func:`torch.utils.cpp_extension.load`: a C++17 compiler and ninja are needed) for the CPU they run
on (``-O3 -march=native``, vectorised ``exp``/``log1p``/``expm1`` from glibc's libmvec), and cached
under ``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``): the first build takes about
half a minute, later processes load it in well under a second.

Set ``PARASPIKE_CPU_KERNEL=0`` to never build or use them; ``backend="auto"`` then falls back to the
pure-PyTorch ``chunked`` backend. Build ahead of time with ``paraspike build-kernels``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import threading
from pathlib import Path
from types import ModuleType

import torch

__all__ = ["cpu_kernels", "cpu_kernel_unavailable_reason", "SOURCE"]

SOURCE = Path(__file__).with_name("csrc") / "paraspike_cpu.cpp"
_KERNEL_VERSION = 1
# -fopenmp: at::parallel_for is header-inline OpenMP in PyTorch's CPU builds; without it the kernel runs
# on one thread. The built module then needs libgomp.so.1, which resolves to the copy torch has loaded.
_FLAGS = ["-O3", "-march=native", "-ffast-math", "-std=c++17", "-fopenmp"]
_LINK_FLAGS = ["-fopenmp"]

_logger = logging.getLogger(__name__)
_lock = threading.Lock()
_module: ModuleType | None = None
_failure: str | None = None


def _module_name() -> str:
    """Name of the built module: versioned, and keyed to this CPU's instruction set (``-march=native``
    code must not be loaded from a cache shared with a machine of another CPU type)."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line
                break
    except OSError:
        pass
    digest = hashlib.sha1((flags + platform.machine()).encode()).hexdigest()[:10]
    return f"paraspike_cpu_v{_KERNEL_VERSION}_{digest}"


def _static_reason() -> str | None:
    """Why the kernels cannot be built here, without building them (``None``: they can be tried)."""
    if os.environ.get("PARASPIKE_CPU_KERNEL", "1").strip().lower() in ("0", "false", "no", "off"):
        return "disabled by PARASPIKE_CPU_KERNEL=0"
    if not SOURCE.is_file():
        return f"kernel source {SOURCE} is missing from the installation"
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler found ({compiler!r} is not on PATH; install g++ or set CXX)"
    from torch.utils.cpp_extension import is_ninja_available

    if not is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    return None


def cpu_kernels() -> ModuleType:
    """The compiled kernel module, building it on first call.

    Raises:
        RuntimeError: the kernels cannot be built here; the message says why and what to do.
    """
    global _module, _failure
    if _module is not None:
        return _module
    with _lock:
        if _module is not None:
            return _module
        if _failure is not None:
            raise RuntimeError(_failure)
        reason = _static_reason()
        if reason is not None:
            _failure = f"paraspike CPU kernels unavailable: {reason}"
            raise RuntimeError(_failure)
        from torch.utils.cpp_extension import _get_build_directory, load

        name = _module_name()
        if not any(Path(_get_build_directory(name, verbose=False)).glob(f"{name}*.so")):
            _logger.warning("paraspike: compiling the fused CPU kernels (once per machine, about 30 s)")
        try:
            _module = load(
                name=name,
                sources=[str(SOURCE)],
                extra_cflags=_FLAGS,
                extra_ldflags=_LINK_FLAGS,
                verbose=os.environ.get("PARASPIKE_VERBOSE_BUILD") == "1",
            )
        except Exception as error:  # the compiler's message is in the exception text
            _failure = (
                "paraspike CPU kernels failed to build (run with PARASPIKE_VERBOSE_BUILD=1 for the full log; "
                f"PARASPIKE_CPU_KERNEL=0 disables them): {error}"
            )
            raise RuntimeError(_failure) from error
        return _module


def cpu_kernel_unavailable_reason(device: torch.device) -> str | None:
    """``None`` when the kernels run on ``device`` (building them if needed), else the reason."""
    if device.type != "cpu":
        return f"the fused CPU kernels run on CPU tensors only, not {device.type}"
    try:
        cpu_kernels()
    except RuntimeError as error:
        return str(error)
    return None
