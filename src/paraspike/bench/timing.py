"""Timing one neuron layer's forward and backward, its peak memory, and the device's copy bandwidth:
what both suites of ``paraspike bench speed`` measure with.

:func:`time_layer` times ``module(x)`` and ``out.backward(grad)`` for a random input of any shape:
medians of at least ``repeats`` runs (more, up to :data:`MAX_RUNS`, until ``min_time_s`` seconds were
timed, so sub-millisecond configurations are not judged on a few noisy samples) after warm-up runs,
plus the peak memory of one forward+backward above its inputs (CPU: the process's peak resident
memory, reset through ``/proc/self/clear_refs`` after glibc's ``malloc_trim`` hands freed memory back,
so a model measured after another is not undercounted by reusing its pages; CUDA:
``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from paraspike.bench.common import median_time, sync

__all__ = [
    "time_layer",
    "time_layers_interleaved",
    "copy_bandwidth",
    "PeakMemory",
    "keep_freed_memory",
    "release_freed_memory",
    "MAX_RUNS",
    "WARMUP_S",
]

MAX_RUNS = 200  # timed runs per configuration at most
WARMUP_S = 0.05  # warm-up runs continue (2 at least) until this much time went by, or one run passed it


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, looked up once (``find_library`` runs ``ldconfig``), or None."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name is not None else None
    except OSError:
        return None


def release_freed_memory() -> bool:
    """Hand memory that the process freed but glibc's allocator kept back to the kernel
    (``malloc_trim(0)``: the top of every arena and whole free pages inside it). Without it, a block that
    reuses those pages allocates without raising the resident set, and its peak reads far too low (an
    LM forward+backward measured after another one read 36 MiB instead of 507). Returns False where
    there is no glibc."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    return True


class PeakMemory:
    """Peak memory (MiB) of a block above what was in use when it started (``mib``; ``None`` if
    unmeasurable) and what was in use then (``base_mib``: resident memory on CPU, allocated on CUDA).
    On CPU, freed memory the allocator kept is released first (:func:`release_freed_memory`), so the
    block's own allocations count even when they reuse an earlier block's pages."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib: float | None = None
        self.base_mib: float | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            self.base_mib = self._base / 2**20
        else:
            release_freed_memory()
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
                self._base = _status_kib("VmRSS")
                self.base_mib = self._base / 1024
            except OSError:
                self._base = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        elif self._base is not None:
            self.mib = (_status_kib("VmHWM") - self._base) / 1024


def minor_page_faults() -> int:
    """Minor page faults of this process so far: pages touched for the first time since the allocator
    took them from the kernel (each zeroed by the kernel on that touch); 0 where ``resource`` is missing."""
    try:
        import resource
    except ImportError:  # not a Unix: nothing to count with
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def _reset(module: nn.Module) -> None:
    for sub in module.modules():
        if callable(getattr(sub, "reset", None)):
            sub.reset()
    module.zero_grad(set_to_none=True)


def _input_and_gradient(shape: Sequence[int], device: torch.device, seed: int) -> tuple[Tensor, Tensor]:
    """A random input ``shape`` (requiring grad) and a random upstream gradient, from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen).to(device).requires_grad_()
    return x, torch.randn(*shape, generator=gen).to(device)


def _forward_backward(module: nn.Module, x: Tensor, grad: Tensor, device: torch.device) -> tuple[float, float]:
    """Seconds of one forward and one backward of ``module`` on ``x`` from a reset state."""
    _reset(module)
    x.grad = None
    sync(device)
    start = time.perf_counter()
    out = module(x)
    sync(device)
    middle = time.perf_counter()
    out.backward(grad)
    sync(device)
    return middle - start, time.perf_counter() - middle


def time_layer(
    build: Callable[[], nn.Module],
    shape: Sequence[int],
    device: torch.device,
    repeats: int,
    cap_s: float,
    seed: int,
    min_time_s: float = 0.0,
) -> dict[str, object]:
    """Forward, backward and total seconds (medians), runs and peak MiB of ``build()`` on a random
    input of ``shape`` with a random upstream gradient. Stops timing once ``cap_s`` seconds went by."""
    x, grad = _input_and_gradient(shape, device, seed)
    module = build()

    def run() -> tuple[float, float]:
        return _forward_backward(module, x, grad, device)

    with PeakMemory(device) as peak:
        warm_fwd, warm_bwd = run()
    spent = warm_fwd + warm_bwd
    if spent < WARMUP_S:  # short runs: warm caches, allocator and thread pool a little longer
        warm_runs = 1
        while warm_runs < 2 or spent < WARMUP_S:
            spent += sum(run())
            warm_runs += 1
    forward: list[float] = []
    backward: list[float] = []
    if spent <= cap_s:
        timed = 0.0
        while len(forward) < MAX_RUNS and (len(forward) < repeats or timed < min_time_s):
            f, b = run()
            forward.append(f)
            backward.append(b)
            timed += f + b
            spent += f + b
            if spent > cap_s:
                break
    else:  # one run already took the whole budget: report it
        forward, backward = [warm_fwd], [warm_bwd]
    totals = [f + b for f, b in zip(forward, backward, strict=True)]
    return {
        "forward_s": statistics.median(forward),
        "backward_s": statistics.median(backward),
        "total_s": statistics.median(totals),
        "runs": len(totals),
        "peak_mib": peak.mib,
        "status": "ok",
    }


def time_layers_interleaved(
    builds: dict[str, Callable[[], nn.Module]],
    shape: Sequence[int],
    device: torch.device,
    repeats: int,
    cap_s: float,
    seed: int,
    min_time_s: float = 0.0,
) -> dict[str, dict[str, object]]:
    """:func:`time_layer` for several layers on the same input, interleaved: every round runs each layer
    once, so a slow spell of a shared machine falls on all of them alike rather than on whichever layer
    was being timed. Rounds continue until every layer has ``repeats`` runs and the rounds took
    ``min_time_s`` per layer, or ``cap_s`` per layer went by. Returns ``{name: result}`` (with
    ``page_faults``: the mean minor page faults per timed forward+backward, what makes a run's time swing
    with the allocator's state); a layer that runs out of memory gets ``{"status": "out of memory"}``."""
    x, grad = _input_and_gradient(shape, device, seed)
    modules: dict[str, nn.Module] = {}
    results: dict[str, dict[str, object]] = {}
    times: dict[str, list[tuple[float, float]]] = {}
    faults: dict[str, list[int]] = {}

    def run(module: nn.Module) -> tuple[float, float]:
        return _forward_backward(module, x, grad, device)

    for name, build in builds.items():
        try:
            module = build()
            with PeakMemory(device) as peak:
                run(module)  # first run: warm-up and peak memory
            spent = 0.0
            while spent < WARMUP_S:
                spent += sum(run(module))
            modules[name] = module
            results[name] = {"peak_mib": peak.mib, "status": "ok"}
            times[name] = []
            faults[name] = []
        except (RuntimeError, MemoryError) as error:
            if "memory" not in str(error).lower() and not isinstance(error, MemoryError):
                raise
            results[name] = {"status": "out of memory"}
    spent_each = {name: 0.0 for name in modules}
    while modules and any(len(times[n]) < repeats or spent_each[n] < min_time_s for n in modules):
        for name, module in modules.items():
            if spent_each[name] > cap_s or len(times[name]) >= MAX_RUNS:
                continue
            before = minor_page_faults()
            f, b = run(module)
            faults[name].append(minor_page_faults() - before)
            times[name].append((f, b))
            spent_each[name] += f + b
        if all(spent_each[n] > cap_s or len(times[n]) >= MAX_RUNS for n in modules):
            break
    for name, measured in times.items():
        forward, backward = zip(*measured, strict=True)
        results[name].update(
            forward_s=statistics.median(forward),
            backward_s=statistics.median(backward),
            total_s=statistics.median(f + b for f, b in measured),
            runs=len(measured),
            page_faults=statistics.mean(faults[name]),
        )
    return results


def copy_bandwidth(device: torch.device, mebibytes: float = 256, repeats: int = 5) -> float:
    """The device's copy bandwidth in GB/s (bytes read + bytes written per second, median of
    ``repeats`` copies into an existing buffer of ``mebibytes``): the ceiling for a memory-bound layer
    whose tensors are that large (small buffers fit in cache and copy faster)."""
    src = torch.ones(max(1, int(mebibytes * 2**18)), device=device)  # float32: 4 bytes each
    dst = torch.empty_like(src)
    seconds, _ = median_time(lambda: dst.copy_(src), device, repeats, warmup=1, cap_s=math.inf)
    return 2 * src.numel() * 4 / seconds / 1e9


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to keep freed memory for reuse instead of returning large blocks to the
    kernel, whose fresh pages then fault and are zeroed on first touch (``mallopt``: no mmapped blocks,
    ``M_MMAP_MAX = 0``, and the largest trim threshold). Affects every tensor the process allocates
    afterwards, every model of a benchmark alike; the same as starting Python with
    ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``. Returns False where there is no glibc."""
    libc = _libc()
    if libc is None:
        return False
    try:
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False
