"""What the DSN's options cost: one layer, forward + backward, with each option set against the paper's.

The fused CPU kernel has register-blocked paths for ``k <= 4`` taps (the paper's 4; fewer run with zero
taps in front) and a general path for ``k > 4``; the decay's power ``1/tau`` is specialised for 1, 2 and 4 and computed
with vector ``log1p``/``expm1`` otherwise. This times, interleaved (each round runs every option set
once), the DSN with each option set on the same input and reports each time relative to the default.

Run: ``python -m paraspike.bench.options --out results``; prints a table and writes
``<out>/bench_options_cpu.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from paraspike.bench.common import program_record, save_record

__all__ = ["OPTION_SETS", "time_option_sets", "main"]

OPTION_SETS: dict[str, dict[str, Any]] = {
    "default (k=4, tau=1/4, N=4)": {},
    "binary (N=1)": {"max_spike": 1},
    "tau=1/2": {"tau": 0.5},
    "tau=0.3": {"tau": 0.3},
    "tau=0.7": {"tau": 0.7},
    "k=3": {"kernel_size": 3},
    "k=8": {"kernel_size": 8},
}


def time_option_sets(
    shape: tuple[int, ...], option_sets: dict[str, dict[str, Any]], rounds: int, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Median seconds of ``reset()``, forward and backward of a DSN per option set, on one random
    input ``shape`` ``[T, B, C, *]`` and upstream gradient, over ``rounds`` interleaved rounds."""
    from paraspike.neurons import DSN

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen).requires_grad_()
    grad = torch.randn(*shape, generator=gen)
    neurons = {label: DSN(shape[2], **options) for label, options in option_sets.items()}

    def run(neuron: DSN) -> float:
        start = time.perf_counter()
        neuron.reset()
        x.grad = None
        neuron(x).backward(grad)
        return time.perf_counter() - start

    for neuron in neurons.values():
        for _ in range(3):
            run(neuron)
    times: dict[str, list[float]] = {label: [] for label in neurons}
    for _ in range(rounds):
        for label, neuron in neurons.items():
            times[label].append(run(neuron))
    return {
        label: {"total_s": statistics.median(t), "kernel": neurons[label].fused_kernel("cpu") or "separate ops"}
        for label, t in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraspike.bench.options", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shape", default="4,16,128,16,16", help="input [T, B, C, *] as comma-separated sizes (default %(default)s)"
    )
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--out", type=Path, default=None, help="folder for bench_options_cpu.json")
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split(","))
    if len(shape) < 3:
        parser.error(f"--shape needs [T, B, C, *] (at least three sizes), got {args.shape!r}")
    timed = time_option_sets(shape, OPTION_SETS, args.rounds)
    reference = next(iter(timed.values()))["total_s"]
    print(f"DSN layer {list(shape)}, forward + backward, {torch.get_num_threads()} threads, median of {args.rounds}")
    for label, row in timed.items():
        row["relative"] = row["total_s"] / reference
        print(f"  {label:<30} {row['total_s'] * 1e3:8.2f} ms  x {row['relative']:5.2f}  ({row['kernel']})")
    if args.out is not None:
        record = program_record(
            "DSN layer forward + backward per option set, interleaved",
            "paraspike.bench.options",
            argv,
            torch.device("cpu"),
            threads=torch.get_num_threads(),
            shape=list(shape),
            rounds=args.rounds,
            options=OPTION_SETS,
            rows=timed,
        )
        save_record(args.out, "bench_options_cpu.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
