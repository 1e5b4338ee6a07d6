"""``paraspike bench speed``: the DSN against the peers, side by side in one process.

For every neuron count, length ``T`` and model (:mod:`paraspike.bench.models`): forward time,
backward time (of a fixed random upstream gradient) and their sum, medians of at least ``repeats``
runs (more, up to 200, until ``min_time`` seconds were timed, so sub-millisecond configurations
are not judged on five noisy samples) after warm-up runs, plus the peak memory of one
forward+backward above its inputs (CPU: the process's peak resident memory, reset through
``/proc/self/clear_refs`` before the run; CUDA: ``torch.cuda.max_memory_allocated``).
A model whose single run at ``T`` would pass the time cap is reported "over cap" instead of being
run (its time is extrapolated from the last two lengths with their observed growth exponent).
Ratios are against the DSN (integer spikes, best backend) in the same run.

Writes ``<out>/bench_speed_<device>.json``, ``.md`` (the tables and the targets) and ``.png``
(log-log time against ``T``; needs matplotlib), rewritten after every length, so a run stopped
early keeps what it measured (the JSON says ``"complete": false`` until the end).
"""

from __future__ import annotations

import argparse
import datetime
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from paraspike.bench.common import machine_info, median_time, sync, write_json
from paraspike.bench.models import BATCH, BenchModel, bench_models
from paraspike.bench.speed_report import markdown_report, plot_times, target_checks

__all__ = ["run_speed_benchmark", "add_arguments", "main"]

DEFAULT_LENGTHS = (32, 128, 512, 2048, 8192, 16384, 32768)
DEFAULT_NEURONS = (1024, 4096)
MAX_RUNS = 200  # timed runs per configuration at most
WARMUP_S = 0.05  # warm-up runs continue (2 at least) until this much time went by, or one run passed it


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class _PeakMemory:
    """Peak memory (MiB) of a block above what was in use when it started; ``None`` if unmeasurable."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib: float | None = None

    def __enter__(self) -> _PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
                self._base = _status_kib("VmRSS")
            except OSError:
                self._base = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        elif self._base is not None:
            self.mib = (_status_kib("VmHWM") - self._base) / 1024


def _reset(module: torch.nn.Module) -> None:
    for sub in module.modules():
        if callable(getattr(sub, "reset", None)):
            sub.reset()
    module.zero_grad(set_to_none=True)


def _time_model(
    model: BenchModel,
    steps: int,
    neurons: int,
    device: torch.device,
    repeats: int,
    cap_s: float,
    seed: int,
    min_time_s: float = 0.0,
) -> dict[str, object]:
    channels = neurons // BATCH
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, BATCH, channels, generator=gen).to(device).requires_grad_()
    grad = torch.randn(steps, BATCH, channels, generator=gen).to(device)
    module = model.build(steps, channels, device)

    def run() -> tuple[float, float]:
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

    with _PeakMemory(device) as peak:
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


def run_speed_benchmark(
    lengths: tuple[int, ...] = DEFAULT_LENGTHS,
    neuron_counts: tuple[int, ...] = DEFAULT_NEURONS,
    device: str = "cpu",
    repeats: int = 5,
    cap_s: float = 10.0,
    only: list[str] | None = None,
    min_time_s: float = 0.0,
    on_step: Callable[[dict[str, object]], None] | None = None,
) -> dict[str, object]:
    """Time every model at every ``(neurons, T)``; returns the JSON-ready result.

    ``on_step(result)`` is called after every ``(neurons, T)`` with the result so far
    (``result["complete"]`` is False until the last one)."""
    dev = torch.device(device)
    models, notes = bench_models(dev)
    if only:
        models = [m for m in models if any(word.lower() in m.name.lower() for word in only)]
    reference = next(m.name for m in models if m.family == "dsn")
    rows: list[dict[str, object]] = []
    result: dict[str, object] = {
        "benchmark": "neuron forward+backward, side by side",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(dev),
        "input": f"[T, {BATCH}, neurons/{BATCH}] float32, upstream gradient random",
        "repeats": repeats,
        "min_time_s": min_time_s,
        "cap_s": cap_s,
        "reference": reference,
        "models": {m.name: {"family": m.family, "note": m.note} for m in models},
        "notes": notes,
        "rows": rows,
        "complete": False,
        "copy_bandwidth_gbs": copy_bandwidth(dev),
    }
    print(f"copy bandwidth on {dev}: {result['copy_bandwidth_gbs']:.1f} GB/s (read + write)", flush=True)
    for neurons in neuron_counts:
        if neurons % BATCH:
            raise ValueError(f"neurons must be a multiple of {BATCH}, got {neurons}")
        history: dict[str, list[tuple[int, float]]] = {}  # model -> [(T, total seconds)] measured so far
        for steps in lengths:
            for model in models:
                row: dict[str, object] = {"model": model.name, "family": model.family, "neurons": neurons, "T": steps}
                if _predicted_seconds(history.get(model.name, []), steps) > cap_s:
                    row["status"] = "over cap"
                else:
                    try:
                        row.update(_time_model(model, steps, neurons, dev, repeats, cap_s, steps, min_time_s))
                        history.setdefault(model.name, []).append((steps, float(row["total_s"])))
                    except (RuntimeError, MemoryError) as error:
                        if "memory" not in str(error).lower() and not isinstance(error, MemoryError):
                            raise
                        row["status"] = "out of memory"
                        history.setdefault(model.name, []).append((steps, float("inf")))
                rows.append(row)
            _ratios(rows, neurons, steps, reference)
            _forward_bandwidth(rows, result["models"])  # type: ignore[arg-type]
            _print_step(rows, neurons, steps)
            result["complete"] = neurons == neuron_counts[-1] and steps == lengths[-1]
            if on_step is not None:
                on_step(result)
    result["complete"] = True
    return result


def _predicted_seconds(measured: list[tuple[int, float]], steps: int) -> float:
    """Time of one run at ``steps`` extrapolated from the last two measurements with their observed
    growth exponent (at least linear in T), so a model that is O(T^2) or O(T^3) is not started at a
    length where one run would take minutes. 0 with nothing measured yet."""
    if not measured:
        return 0.0
    t2, s2 = measured[-1]
    exponent = 1.0
    if len(measured) >= 2:
        t1, s1 = measured[-2]
        if s1 > 0 and t2 > t1 and math.isfinite(s2):
            exponent = max(1.0, math.log(s2 / s1) / math.log(t2 / t1))
    return s2 * (steps / t2) ** exponent


def copy_bandwidth(device: torch.device, mebibytes: int = 256, repeats: int = 5) -> float:
    """The device's copy bandwidth in GB/s (bytes read + bytes written per second, median of
    ``repeats`` copies of a ``mebibytes`` buffer): the ceiling for a memory-bound kernel."""
    src = torch.ones(mebibytes * 2**18, device=device)  # float32: 4 bytes each
    dst = torch.empty_like(src)
    seconds, _ = median_time(lambda: dst.copy_(src), device, repeats, warmup=1, cap_s=math.inf)
    return 2 * src.numel() * 4 / seconds / 1e9


def _forward_bandwidth(rows: list[dict[str, object]], models: dict[str, dict[str, str]]) -> None:
    """For the fused DSN rows: the forward's memory traffic (read x, write spikes and H: 12 bytes per
    neuron-step in float32) per second, in GB/s."""
    for row in rows:
        fused = "fused kernel" in models[str(row["model"])]["note"]
        if fused and row["status"] == "ok" and "forward_gbs" not in row:
            row["forward_gbs"] = 12 * int(row["T"]) * int(row["neurons"]) / float(row["forward_s"]) / 1e9


def _ratios(rows: list[dict[str, object]], neurons: int, steps: int, reference: str) -> None:
    here = [r for r in rows if r["neurons"] == neurons and r["T"] == steps]
    ref = next((r for r in here if r["model"] == reference and r["status"] == "ok"), None)
    if ref is None:
        return
    for row in here:
        if row["status"] == "ok":
            row["time_vs_dsn"] = float(row["total_s"]) / float(ref["total_s"])


def _print_step(rows: list[dict[str, object]], neurons: int, steps: int) -> None:
    print(f"\nneurons={neurons} T={steps}", flush=True)
    for row in rows:
        if row["neurons"] != neurons or row["T"] != steps:
            continue
        if row["status"] != "ok":
            print(f"  {row['model']:<34} {row['status']}", flush=True)
            continue
        mem = "" if row["peak_mib"] is None else f"  peak {row['peak_mib']:8.1f} MiB"
        print(
            f"  {row['model']:<34} fwd {row['forward_s'] * 1e3:10.2f} ms  bwd {row['backward_s'] * 1e3:10.2f} ms  "
            f"total {row['total_s'] * 1e3:10.2f} ms  x{row.get('time_vs_dsn', float('nan')):8.2f} vs DSN{mem}",
            flush=True,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS), help="sequence lengths T")
    parser.add_argument("--neurons", type=int, nargs="+", default=list(DEFAULT_NEURONS), help="neurons per layer")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (%(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration, at least")
    parser.add_argument(
        "--min-time", type=float, default=0.5, help="seconds of timed runs per configuration, at least (<= 200 runs)"
    )
    parser.add_argument("--cap", type=float, default=10.0, help="seconds per configuration (runs beyond it are cut)")
    parser.add_argument("--only", nargs="+", default=None, help="keep models whose name contains one of these words")
    parser.add_argument("--out", default="results", help="folder for the JSON, markdown and PNG")


def _command_line(args: argparse.Namespace) -> str:
    parts = ["paraspike bench speed"]
    for flag, value in (
        ("lengths", args.lengths),
        ("neurons", args.neurons),
        ("device", args.device),
        ("repeats", args.repeats),
        ("min-time", args.min_time),
        ("cap", args.cap),
        ("only", args.only),
        ("out", args.out),
    ):
        if value is not None:
            parts.append(f"--{flag} " + (" ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return " ".join(parts)


def main(args: argparse.Namespace) -> None:
    print(
        f"neuron forward+backward on {args.device}, medians of at least {args.repeats} runs and {args.min_time} s "
        f"after warm-up, cap {args.cap} s per configuration; ratios = model time / DSN time (same run)"
    )
    tag = torch.device(args.device).type
    out = Path(args.out)
    command = _command_line(args)

    def save(result: dict[str, object]) -> bool:
        result["targets"] = target_checks(result)
        result["command"] = command
        write_json(out / f"bench_speed_{tag}.json", result)
        (out / f"bench_speed_{tag}.md").write_text(markdown_report(result))
        return plot_times(result, out / f"bench_speed_{tag}.png")

    result = run_speed_benchmark(
        tuple(args.lengths), tuple(args.neurons), args.device, args.repeats, args.cap, args.only, args.min_time, save
    )
    plotted = save(result)
    print("\n" + "\n".join(f"{t['target']}: {t['verdict']}" for t in result["targets"]))
    print(f"written to {out}/bench_speed_{tag}.json, .md" + (", .png" if plotted else " (no plot: matplotlib missing)"))
