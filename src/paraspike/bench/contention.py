"""``paraspike bench contention``: how a DSN layer's speed degrades when another process keeps one of
the machine's cores busy (a shared machine, a data-loader worker, a second job).

For every backend, thread count and environment variant, a fresh worker process times forward +
backward of one DSN layer (medians over at least ``--min-time`` seconds) twice: on a quiet machine,
and while a separate process spins on one core. The slowdown is the ratio of the two. Each
configuration runs in its own process, so OpenMP settings from the environment (``OMP_WAIT_POLICY``,
``GOMP_SPINCOUNT``, ``OMP_NUM_THREADS``) take effect, and another checkout of paraspike can be timed
with the same program (``--pythonpath other/src``) for before/after comparisons.

Writes ``<out>/contention_<label>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["add_arguments", "main", "worker"]

SHAPES = {"T2048": (2048, 8, 128), "conv-T4": (4, 16, 128, 16, 16)}


def worker(shape: tuple[int, ...], backend: str, threads: int, min_time: float) -> dict[str, float]:
    """Median forward+backward seconds of ``DSN(backend=...)`` on ``shape`` with ``threads`` threads."""
    import torch

    from paraspike import DSN

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    grad = torch.randn(*shape)
    neuron = DSN(shape[2], backend=backend)

    def run() -> float:
        neuron.reset()
        x.grad = None
        start = time.perf_counter()
        neuron(x).backward(grad)
        return time.perf_counter() - start

    warm = time.perf_counter()
    while time.perf_counter() - warm < 0.3:
        run()
    times: list[float] = []
    while sum(times) < min_time or len(times) < 10:
        times.append(run())
    return {"median_s": statistics.median(times), "runs": len(times)}


def _spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _measure(
    shape: str,
    backend: str,
    threads: int,
    env_extra: dict[str, str],
    pythonpath: str | None,
    busy: bool,
    min_time: float,
) -> dict[str, float]:
    env = {**os.environ, **env_extra}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    # the worker's own source, so that another checkout (without this module) can be timed too
    code = (
        "import json, statistics, time\n"
        + inspect.getsource(worker)
        + f"\nprint(json.dumps(worker({SHAPES[shape]!r}, {backend!r}, {threads}, {min_time})))\n"
    )
    spinner = _spinner() if busy else None
    try:
        time.sleep(0.2 if busy else 0.0)
        output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(output.stdout.strip().splitlines()[-1])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES), help="layer shapes")
    parser.add_argument("--backends", nargs="+", default=["cpu", "chunked"], help="DSN backends (%(default)s)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads (%(default)s)")
    parser.add_argument(
        "--env", nargs="*", default=["", "OMP_WAIT_POLICY=passive"], help="environment variants (VAR=value,...)"
    )
    parser.add_argument("--min-time", type=float, default=1.5, help="seconds timed per configuration (%(default)s)")
    parser.add_argument("--pythonpath", default=None, help="time another checkout (its src/ folder) instead")
    parser.add_argument("--label", default="current", help="name of this measurement in the output files")
    parser.add_argument("--out", default="results", help="folder for contention_<label>.json and .md")


def _command_line(args: argparse.Namespace) -> str:
    parts = ["paraspike bench contention", "--shapes", *args.shapes, "--backends", *args.backends]
    parts += ["--threads", *map(str, args.threads), "--env", *(f"'{e}'" for e in args.env)]
    parts += ["--min-time", str(args.min_time), "--label", args.label, "--out", args.out]
    if args.pythonpath:
        parts += ["--pythonpath", args.pythonpath]
    return " ".join(parts)


def main(args: argparse.Namespace) -> None:
    rows = []
    for shape in args.shapes:
        for backend in args.backends:
            for variant in args.env:
                env = dict(item.split("=", 1) for item in variant.split(",") if item)
                for threads in args.threads:
                    quiet = _measure(shape, backend, threads, env, args.pythonpath, False, args.min_time)
                    busy = _measure(shape, backend, threads, env, args.pythonpath, True, args.min_time)
                    row = {
                        "shape": shape,
                        "backend": backend,
                        "env": variant or "(defaults)",
                        "threads": threads,
                        "quiet_ms": quiet["median_s"] * 1e3,
                        "busy_ms": busy["median_s"] * 1e3,
                        "slowdown": busy["median_s"] / quiet["median_s"],
                    }
                    rows.append(row)
                    print(
                        f"{shape:8} {backend:8} {row['env']:24} threads={threads}: quiet {row['quiet_ms']:8.2f} ms, "
                        f"one core busy {row['busy_ms']:8.2f} ms ({row['slowdown']:.2f}x)",
                        flush=True,
                    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = _command_line(args)
    payload = {"label": args.label, "pythonpath": args.pythonpath, "cpus": os.cpu_count(), "command": command}
    payload["rows"] = rows
    (out / f"contention_{args.label}.json").write_text(json.dumps(payload, indent=2))
    lines = [
        f"# Contention ({args.label})",
        "",
        f"Command: `{command}`; {os.cpu_count()} CPUs. Forward+backward of one DSN layer, medians; 'busy': while "
        "another process spins on one core.",
        "",
        "| shape | backend | environment | threads | quiet | one core busy | slowdown |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['shape']} | {r['backend']} | {r['env']} | {r['threads']} | {r['quiet_ms']:.2f} ms | "
        f"{r['busy_ms']:.2f} ms | {r['slowdown']:.2f}x |"
        for r in rows
    ]
    (out / f"contention_{args.label}.md").write_text("\n".join(lines) + "\n")
    print(f"written to {out}/contention_{args.label}.json, .md")
