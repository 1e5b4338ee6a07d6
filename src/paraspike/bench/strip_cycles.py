"""The fused CPU kernel's arithmetic alone: cycles per 16-lane vector-step of its register-blocked loops.

Calls ``torch.ops.paraspike.strip_timing`` (``kernels/csrc/strip_timing.h``): the paper's DSN (4 taps,
tau = 1/4, N = 4) forward and backward on one thread, straight on buffers the op allocates, with no
dispatcher, autograd, thread pool or allocator around it, for a layer ``[T, B, C, 16, 16]`` small enough
(``B = 1, C = 16`` by default: 4096 neurons) that its streams stay in L1/L2; ``--batch`` shows what each
batch row costs on its own at small T. What it measures is the
arithmetic and how well the CPU overlaps it; the layer suite (``paraspike bench speed --suite layers``)
measures whole layers from memory. The clock comes from a chain of dependent one-cycle adds.

It also times the same loops with the input at the outputs' offset within their 4 KiB pages (rows of
a 4096-neuron layer lie 16 KiB apart, so every row of every stream then shares its low 12 address bits
with the rows of the others): a load whose low 12 address bits match an earlier store's waits for it.
PyTorch places tensors 64 bytes into a page and the kernel's output pool at 0, the staggered case.

Run: ``python -m paraspike.bench.strip_cycles --out results``; prints a table and writes
``<out>/bench_strip_cycles_cpu.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from paraspike.bench.common import program_record, save_record

__all__ = ["LANES", "time_strips", "main"]

LANES = 16  # float32 lanes of a 64-byte vector
STAGGERED = (64, 0)  # input and output offsets in their pages, as PyTorch and the output pool place them
ALIASED = (0, 0)


def time_strips(steps: int, batch: int, channels: int, rounds: int, offsets: tuple[int, int]) -> dict[str, float]:
    """Forward and backward nanoseconds per neuron-step and cycles per vector-step of the strip kernels
    on ``[steps, batch, channels, 16, 16]``, the best of ``rounds`` rounds; and the clock in GHz."""
    from paraspike.kernels.cpu import cpu_kernels

    cpu_kernels()
    forward_ns, backward_ns, ghz = torch.ops.paraspike.strip_timing(steps, batch, channels, rounds, *offsets)
    row = {"clock_ghz": ghz}
    for name, ns in (("forward", forward_ns), ("backward", backward_ns)):
        row[f"{name}_ns_per_neuron_step"] = ns / LANES
        row[f"{name}_cycles_per_vector_step"] = ns * ghz  # 0 where the clock is unknown
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraspike.bench.strip_cycles", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 8, 32], help="time steps T per layer")
    parser.add_argument("--batch", type=int, default=1, help="batch rows (default %(default)s)")
    parser.add_argument("--channels", type=int, default=16, help="channels of 16 x 16 positions (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=7, help="best of this many rounds of ~20 ms")
    parser.add_argument("--out", type=Path, default=None, help="folder for bench_strip_cycles_cpu.json")
    args = parser.parse_args(argv)
    if min(args.steps) < 1 or min(args.batch, args.channels, args.rounds) < 1:
        parser.error("--steps, --batch, --channels and --rounds must be >= 1")
    rows = []
    shape = f"[T, {args.batch}, {args.channels}, 16, 16]"
    print(f"strip kernels alone, one thread, {shape}, best of {args.rounds} rounds")
    print("   T  forward ns/step  cycles  backward ns/step  cycles  | input at the outputs' page offset: cycles")
    for steps in args.steps:
        staggered = time_strips(steps, args.batch, args.channels, args.rounds, STAGGERED)
        aliased = time_strips(steps, args.batch, args.channels, args.rounds, ALIASED)
        rows.append({"steps": steps, "staggered": staggered, "aliased": aliased})
        print(
            f"{steps:4d}  {staggered['forward_ns_per_neuron_step']:15.3f}  "
            f"{staggered['forward_cycles_per_vector_step']:6.1f}  {staggered['backward_ns_per_neuron_step']:16.3f}  "
            f"{staggered['backward_cycles_per_vector_step']:6.1f}  | {aliased['forward_cycles_per_vector_step']:6.1f}, "
            f"{aliased['backward_cycles_per_vector_step']:6.1f}"
        )
    print(f"clock {rows[0]['staggered']['clock_ghz']:.2f} GHz (a chain of dependent adds)")
    if args.out is not None:
        record = program_record(
            "the fused CPU kernel's register-blocked loops alone, cycles per vector-step",
            "paraspike.bench.strip_cycles",
            argv,
            torch.device("cpu"),
            threads=1,
            batch=args.batch,
            channels=args.channels,
            neurons=args.batch * args.channels * 256,
            rounds=args.rounds,
            lanes=LANES,
            offsets={"staggered": list(STAGGERED), "aliased": list(ALIASED)},
            rows=rows,
        )
        save_record(args.out, "bench_strip_cycles_cpu.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
