"""Timing helpers shared by the benchmark programs."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

__all__ = [
    "median_time",
    "machine_info",
    "write_json",
    "sync",
    "program_record",
    "save_record",
    "threads_set_to",
    "spikingjelly_lif_implementation",
]

SJ_LIF_VARIABLE = "SJ_LIF_CUDA_IMPLEMENTATION"


def spikingjelly_lif_implementation(device: torch.device) -> str:
    """Which of SpikingJelly 2.0.0's LIF implementations its ``LIFNode`` runs on ``device``, asking for its
    Triton one on CUDA.

    SpikingJelly 2.0.0 has no ``backend=`` argument: its LIF kernels (``torch`` on the CPU; on CUDA
    ``cuda``, its compiled extension, which replaced the CuPy backend, or ``triton``) are chosen from
    ``SJ_LIF_CUDA_IMPLEMENTATION`` when it is imported, ``auto`` trying ``cuda`` first. On CUDA, before
    SpikingJelly is imported, this sets the variable to ``triton`` unless the user set it (run again with
    ``SJ_LIF_CUDA_IMPLEMENTATION=cuda`` for the other one). Returns a label for the results.
    """
    if device.type != "cuda":
        return "torch"
    if "spikingjelly" not in sys.modules:
        os.environ.setdefault(SJ_LIF_VARIABLE, "triton")
    return f"{SJ_LIF_VARIABLE}={os.environ.get(SJ_LIF_VARIABLE, 'auto')}"


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(
    run: Callable[[], object], device: torch.device, repeats: int, warmup: int, cap_s: float
) -> tuple[float, int]:
    """Median wall time of ``run()`` over up to ``repeats`` runs after ``warmup`` runs.

    Stops early once the total time spent passes ``cap_s`` (at least one timed run is made).
    Returns ``(median seconds, number of timed runs)``.
    """
    spent = 0.0
    for _ in range(warmup):
        start = time.perf_counter()
        run()
        sync(device)
        spent += time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - start)
        spent += times[-1]
        if spent > cap_s:
            break
    return statistics.median(times), len(times)


def machine_info(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))


def program_record(
    benchmark: str, program: str, argv: list[str] | None, measured_on: torch.device, **fields: object
) -> dict[str, object]:
    """The JSON record of a benchmark program's run: what it measures, the command that reruns it
    (``python -m <program> <arguments>``), when, the machine (and ``measured_on``'s name), then ``fields``."""
    arguments = argv if argv is not None else sys.argv[1:]
    return {
        "benchmark": benchmark,
        "command": " ".join(["python -m", program, *arguments]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(measured_on),
        **fields,
    }


def save_record(out: Path, filename: str, record: dict[str, object]) -> Path:
    """Write ``record`` to ``out/filename`` (folders created) and say where."""
    path = out / filename
    write_json(path, record)
    print(f"written to {path}")
    return path


def cpu_kernel_missing() -> bool:
    """Whether the fused CPU kernel cannot run here; if so, says why on stderr (a benchmark of the
    kernel then has nothing to measure)."""
    from paraspike.kernels.cpu import cpu_kernel_unavailable_reason

    reason = cpu_kernel_unavailable_reason(torch.device("cpu"))
    if reason is not None:
        print(f"the fused CPU kernel is unavailable here ({reason}); nothing to measure", file=sys.stderr)
    return reason is not None


@contextmanager
def threads_set_to(count: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(count)``, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
