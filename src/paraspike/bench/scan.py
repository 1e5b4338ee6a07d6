"""``paraspike bench scan``: forward+backward time of every scan backend against ``naive``.

For each length T and backend: ``h, h_last = linear_scan(u, g, h0)`` then
``backward`` of fixed random upstream gradients for ``h`` and ``h_last``, all inputs requiring
grad. Medians after a warm-up; a time cap per configuration stops repeats early.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import torch

from paraspike.bench.common import machine_info, median_time, write_json
from paraspike.ops import available_scan_backends, linear_scan

__all__ = ["run_scan_benchmark", "add_arguments", "main"]

DEFAULT_LENGTHS = (32, 128, 512, 2048, 8192, 16384)


def _case(length: int, neurons: int, dtype: torch.dtype, device: torch.device, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator(device="cpu").manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=gen, dtype=dtype).to(device)  # noqa: E731
    # log-decays of a DSN at initialisation: logsigmoid(a)/tau with tau = 0.25, a ~ N(0, 1)
    g = torch.nn.functional.logsigmoid(make(length, neurons)) * 4
    return {
        "u": make(length, neurons).requires_grad_(),
        "g": g.requires_grad_(),
        "h0": make(neurons).requires_grad_(),
        "grad_h": make(length, neurons),
        "grad_last": make(neurons),
    }


def run_scan_benchmark(
    lengths: tuple[int, ...] = DEFAULT_LENGTHS,
    neurons: int = 1024,
    backends: list[str] | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    repeats: int = 5,
    warmup: int = 1,
    cap_s: float = 20.0,
) -> dict[str, object]:
    dev = torch.device(device)
    names = backends or available_scan_backends(dev)
    rows = []
    for length in lengths:
        case = _case(length, neurons, dtype, dev, seed=length)
        times: dict[str, float] = {}
        for name in names:

            def step(name: str = name, case: dict[str, torch.Tensor] = case) -> None:
                h, h_last = linear_scan(case["u"], case["g"], case["h0"], backend=name)
                torch.autograd.backward((h, h_last), (case["grad_h"], case["grad_last"]))
                for key in ("u", "g", "h0"):
                    case[key].grad = None

            seconds, runs = median_time(step, dev, repeats, warmup, cap_s)
            times[name] = seconds
            rows.append({"T": length, "neurons": neurons, "backend": name, "seconds": seconds, "runs": runs})
        for row in rows:
            if row["T"] == length and "naive" in times:
                row["speedup_vs_naive"] = times["naive"] / row["seconds"]
        _print_row(length, names, times)
    return {
        "benchmark": "linear_scan forward+backward",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(dev),
        "dtype": str(dtype),
        "repeats": repeats,
        "warmup": warmup,
        "rows": rows,
    }


def _print_row(length: int, names: list[str], times: dict[str, float]) -> None:
    cells = []
    for name in names:
        ratio = f" ({times['naive'] / times[name]:.1f}x)" if "naive" in times and name != "naive" else ""
        cells.append(f"{name} {times[name] * 1e3:9.2f} ms{ratio}")
    print(f"T={length:6d}  " + "  ".join(cells), flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS), help="sequence lengths T")
    parser.add_argument("--neurons", type=int, default=1024, help="neurons scanned in parallel (%(default)s)")
    parser.add_argument("--backends", nargs="+", default=None, help="scan backends to time (default: all available)")
    parser.add_argument("--device", default="cpu", help="torch device (%(default)s)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="(%(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (%(default)s)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (%(default)s)")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds per configuration before stopping repeats")
    parser.add_argument("--out", default="results/bench_scan_cpu.json", help="JSON file to write (%(default)s)")


def main(args: argparse.Namespace) -> None:
    print(
        f"linear_scan forward+backward, {args.neurons} neurons, {args.dtype}, median of up to "
        f"{args.repeats} runs after {args.warmup} warm-up, ratios against naive"
    )
    result = run_scan_benchmark(
        tuple(args.lengths),
        args.neurons,
        args.backends,
        args.device,
        getattr(torch, args.dtype),
        args.repeats,
        args.warmup,
        args.cap,
    )
    write_json(Path(args.out), result)
    print(f"written to {args.out}")
