"""Serial inference: one time step at a time (``step_mode='s'``), the DSN against the peers.

The DSN trains in parallel and runs step by step at inference (a live stream, an RL actor). A step of
a small layer is a few microseconds of arithmetic, so what a step costs is mostly per-call work. This
times, with gradients off and interleaved (each round runs every neuron for ``--steps`` steps from a
reset state), the DSN, our LIF and SpikingJelly's ``LIFNode`` and ``ParametricLIFNode`` in single-step
mode on a random ``[B, C, *]`` input, one thread, and reports microseconds per step.

Run: ``python -m paraspike.bench.single_step --out results``; prints a table and writes
``<out>/bench_single_step_cpu.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from paraspike.bench.common import program_record, save_record, threads_set_to

__all__ = ["step_neurons", "time_single_steps", "main"]


def step_neurons(channels: int) -> tuple[dict[str, nn.Module], list[str]]:
    """Single-step neurons for ``channels`` channels, and notes on what was left out."""
    from paraspike.neurons import DSN, LIF

    neurons: dict[str, nn.Module] = {
        "DSN-int": DSN(channels, step_mode="s"),
        "DSN-bin": DSN(channels, max_spike=1, step_mode="s"),
        "LIF [ours]": LIF(step_mode="s"),
    }
    try:
        from spikingjelly.activation_based import neuron as sj
    except Exception as error:  # not installed, or its optional imports fail
        return neurons, [f"spikingjelly not importable ({error}); pip install --no-deps spikingjelly==2.0.0 loguru"]
    neurons["SJ LIFNode (s)"] = sj.LIFNode(step_mode="s")
    neurons["SJ ParametricLIFNode (s)"] = sj.ParametricLIFNode(step_mode="s")
    return neurons, []


def time_single_steps(
    neurons: dict[str, nn.Module], shape: tuple[int, ...], steps: int, rounds: int, seed: int = 0
) -> dict[str, float]:
    """Median microseconds per step of each neuron over ``rounds`` interleaved rounds of ``steps``
    steps (reset before each round), inputs ``[B, C, *]`` of ``shape``, gradients off."""
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(*shape, generator=gen) for _ in range(steps)]
    times: dict[str, list[float]] = {label: [] for label in neurons}
    with torch.no_grad():
        for neuron in neurons.values():  # warm-up
            for x in inputs[:10]:
                neuron(x)
            neuron.reset()
        for _ in range(rounds):
            for label, neuron in neurons.items():
                start = time.perf_counter()
                for x in inputs:
                    neuron(x)
                times[label].append((time.perf_counter() - start) / steps * 1e6)
                neuron.reset()
    return {label: statistics.median(t) for label, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraspike.bench.single_step", description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["8,128", "8,1024", "1,64,8,8"], help="step inputs B,C,*")
    parser.add_argument("--steps", type=int, default=200, help="steps per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None, help="folder for bench_single_step_cpu.json")
    args = parser.parse_args(argv)
    shapes = [tuple(int(v) for v in text.split(",")) for text in args.shapes]
    if any(len(shape) < 2 for shape in shapes):
        parser.error(f"--shapes takes [B, C, *] as B,C,... (at least two sizes), got {args.shapes}")
    rows, notes = [], []
    with threads_set_to(1):
        for shape in shapes:
            neurons, notes = step_neurons(shape[1])
            timed = time_single_steps(neurons, shape, args.steps, args.rounds)
            reference = timed["DSN-int"]
            print(f"step input {list(shape)}: microseconds per step, one thread (relative to DSN-int)")
            for label, us in timed.items():
                print(f"  {label:<26} {us:8.1f} us  x {us / reference:5.2f}")
            rows.append({"shape": list(shape), "us_per_step": timed})
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out is not None:
        record = program_record(
            "one time step (step_mode='s'), gradients off, one thread, interleaved",
            "paraspike.bench.single_step",
            argv,
            torch.device("cpu"),
            steps_per_round=args.steps,
            rounds=args.rounds,
            notes=notes,
            rows=rows,
        )
        save_record(args.out, "bench_single_step_cpu.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
