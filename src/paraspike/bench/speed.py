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
from collections.abc import Callable
from pathlib import Path

import torch

from paraspike.bench.common import machine_info, write_json
from paraspike.bench.layers import DEFAULT_STEPS, LAYOUTS, run_layer_benchmark
from paraspike.bench.layers_report import layer_markdown, layer_targets, plot_layers
from paraspike.bench.models import BATCH, bench_models
from paraspike.bench.speed_report import markdown_report, plot_times, target_checks
from paraspike.bench.timing import copy_bandwidth, keep_freed_memory, time_layer

__all__ = ["run_speed_benchmark", "add_arguments", "main"]

DEFAULT_LENGTHS = (32, 128, 512, 2048, 8192, 16384, 32768)
DEFAULT_NEURONS = (1024, 4096)


def run_speed_benchmark(
    lengths: tuple[int, ...] = DEFAULT_LENGTHS,
    neuron_counts: tuple[int, ...] = DEFAULT_NEURONS,
    device: str = "cpu",
    repeats: int = 5,
    cap_s: float = 10.0,
    only: list[str] | None = None,
    min_time_s: float = 0.0,
    on_step: Callable[[dict[str, object]], None] | None = None,
    batch: int = BATCH,
) -> dict[str, object]:
    """Time every model at every ``(neurons, T)`` on inputs ``[T, batch, neurons / batch]``; returns the
    JSON-ready result.

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
        "input": f"[T, {batch}, neurons/{batch}] float32, upstream gradient random",
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
        if neurons % batch:
            raise ValueError(f"neurons must be a multiple of --batch {batch}, got {neurons}")
        history: dict[str, list[tuple[int, float, float]]] = {}  # model -> [(T, forward s, backward s)] so far
        for steps in lengths:
            for model in models:
                row: dict[str, object] = {"model": model.name, "family": model.family, "neurons": neurons, "T": steps}
                if predicted_run_seconds(history.get(model.name, []), steps) > cap_s:
                    row["status"] = "over cap"
                else:
                    try:
                        shape = (steps, batch, neurons // batch)
                        build = lambda m=model, s=shape: m.build(s[0], s[2], dev)  # noqa: E731
                        row.update(time_layer(build, shape, dev, repeats, cap_s, steps, min_time_s))
                        history.setdefault(model.name, []).append(
                            (steps, float(row["forward_s"]), float(row["backward_s"]))
                        )
                    except (RuntimeError, MemoryError) as error:
                        if "memory" not in str(error).lower() and not isinstance(error, MemoryError):
                            raise
                        row["status"] = "out of memory"
                        history.setdefault(model.name, []).append((steps, float("inf"), float("inf")))
                rows.append(row)
            _ratios(rows, neurons, steps, reference)
            _forward_bandwidth(rows, result["models"])  # type: ignore[arg-type]
            _print_step(rows, neurons, steps)
            result["complete"] = neurons == neuron_counts[-1] and steps == lengths[-1]
            if on_step is not None:
                on_step(result)
    result["complete"] = True
    return result


def predicted_run_seconds(measured: list[tuple[int, float, float]], steps: int) -> float:
    """One forward + backward at ``steps`` predicted from ``(T, forward s, backward s)`` measurements: each
    part extrapolated with its own growth exponent (a backward that grows as T^3 under a forward that
    grows as T hides in their sum until it takes minutes: SpikingJelly's SlidingPSN at T = 8192)."""
    forward = _predicted_seconds([(t, f) for t, f, _ in measured], steps)
    return forward + _predicted_seconds([(t, b) for t, _, b in measured], steps)


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
    parser.add_argument(
        "--batch", type=int, default=BATCH, help="B of the lengths suite's input [T, B, neurons / B] (%(default)s)"
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (%(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration, at least")
    parser.add_argument(
        "--min-time", type=float, default=0.5, help="seconds of timed runs per configuration, at least (<= 200 runs)"
    )
    parser.add_argument("--cap", type=float, default=10.0, help="seconds per configuration (runs beyond it are cut)")
    parser.add_argument("--only", nargs="+", default=None, help="keep models whose name contains one of these words")
    parser.add_argument("--out", default="results", help="folder for the JSON, markdown and PNG")
    parser.add_argument(
        "--suite",
        choices=["lengths", "layers"],
        default="lengths",
        help="lengths: T from 32 to 32768 at --neurons; layers: convolutional and dense layer shapes with "
        "T in --steps (bench_layers_<device>.*)",
    )
    parser.add_argument(
        "--steps", type=int, nargs="+", default=list(DEFAULT_STEPS), help="T of the layer suite (%(default)s)"
    )
    parser.add_argument(
        "--layouts", nargs="+", choices=list(LAYOUTS), default=list(LAYOUTS), help="layer shapes of the layer suite"
    )
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="tell glibc to reuse freed memory instead of returning it (fresh pages fault on first touch); "
        "applies to every model alike",
    )


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
        ("batch", None if args.batch == BATCH else args.batch),
        ("suite", None if args.suite == "lengths" else args.suite),
        ("steps", args.steps if args.suite == "layers" else None),
        ("layouts", args.layouts if args.suite == "layers" else None),
    ):
        if value is not None:
            parts.append(f"--{flag} " + (" ".join(map(str, value)) if isinstance(value, list) else str(value)))
    if args.keep_freed_memory:
        parts.append("--keep-freed-memory")
    return " ".join(parts)


def _allocator(args: argparse.Namespace) -> str:
    if args.keep_freed_memory and keep_freed_memory():
        return "glibc told to keep freed memory (--keep-freed-memory: no mmapped blocks, no trimming)"
    return "glibc defaults (large freed blocks go back to the kernel; fresh pages fault on first touch)"


def main(args: argparse.Namespace) -> None:
    allocator = _allocator(args)
    if args.suite == "layers":
        return _main_layers(args, allocator)
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
        result["allocator"] = allocator
        write_json(out / f"bench_speed_{tag}.json", result)
        (out / f"bench_speed_{tag}.md").write_text(markdown_report(result))
        return plot_times(result, out / f"bench_speed_{tag}.png")

    result = run_speed_benchmark(
        tuple(args.lengths),
        tuple(args.neurons),
        args.device,
        args.repeats,
        args.cap,
        args.only,
        args.min_time,
        save,
        args.batch,
    )
    plotted = save(result)
    print("\n" + "\n".join(f"{t['target']}: {t['verdict']}" for t in result["targets"]))
    print(f"written to {out}/bench_speed_{tag}.json, .md" + (", .png" if plotted else " (no plot: matplotlib missing)"))


def _main_layers(args: argparse.Namespace, allocator: str) -> None:
    print(
        f"one neuron layer, forward+backward on {args.device}, layouts {args.layouts}, T in {args.steps}; "
        f"medians of at least {args.repeats} runs and {args.min_time} s; {allocator}"
    )
    tag = torch.device(args.device).type
    out = Path(args.out)
    command = _command_line(args)

    def save(result: dict[str, object]) -> bool:
        result["targets"] = layer_targets(result)
        result["command"] = command
        result["allocator"] = allocator
        write_json(out / f"bench_layers_{tag}.json", result)
        (out / f"bench_layers_{tag}.md").write_text(layer_markdown(result))
        return plot_layers(result, out / f"bench_layers_{tag}.png")

    result = run_layer_benchmark(
        args.device, tuple(args.steps), tuple(args.layouts), args.repeats, args.cap, args.only, args.min_time, save
    )
    plotted = save(result)
    print("\n" + "\n".join(f"{t['target']}: {t['verdict']}" for t in result["targets"]))
    print(
        f"written to {out}/bench_layers_{tag}.json, .md" + (", .png" if plotted else " (no plot: matplotlib missing)")
    )
