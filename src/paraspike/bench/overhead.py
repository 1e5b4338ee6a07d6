"""What the DSN module adds around its fused CPU kernel: the Python cost of one training call.

For a small layer the kernel itself takes tens of microseconds, so the module's own work (state
bookkeeping, checks, autograd bookkeeping) is a visible part of a call. This times, interleaved (each
round runs both once per repetition), with one thread:

- ``module``: ``reset()``, ``DSN(x)`` and ``backward()`` of the spikes' sum, as a training step calls it;
- ``op``: the same forward and backward through the bare op ``torch.ops.paraspike.dsn_cpu`` (via
  :func:`paraspike.ops.dsn_fused.dsn_fused_cpu`), with the same parameters;

and reports the difference per call, ``overhead``. Run: ``python -m paraspike.bench.overhead --out
results``; prints a table and writes ``<out>/module_overhead_cpu.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from paraspike.bench.common import cpu_kernel_missing, program_record, save_record, threads_set_to

__all__ = ["time_module_and_op", "main"]

DEFAULT_SHAPES = ((32, 8, 128), (32, 1, 1024), (4, 32, 128))


def time_module_and_op(shape: Sequence[int], rounds: int = 15, calls: int = 500) -> dict[str, float]:
    """Median microseconds per call of the module and of the bare op on a random input ``shape``
    ``[T, B, C]`` (forward + backward), over ``rounds`` rounds of ``calls`` calls each."""
    from paraspike.neurons import DSN
    from paraspike.ops.dsn_fused import dsn_fused_cpu

    neuron = DSN(shape[2], backend="cpu")
    x = torch.randn(*shape, requires_grad=True)
    weight, bias = neuron.decay_logit.weight, neuron.decay_logit.bias

    def module() -> None:
        neuron.reset()
        neuron(x).sum().backward()

    def op() -> None:
        spikes, _, _ = dsn_fused_cpu(x, None, None, weight, bias, tau=neuron.tau, v_threshold=1.0, max_spike=4)
        spikes.sum().backward()

    runs: dict[str, Callable[[], None]] = {"module": module, "op": op}
    for run in runs.values():
        for _ in range(max(1, calls // 5)):
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(calls):
                run()
            times[name].append((time.perf_counter() - start) / calls * 1e6)
    result = {name: statistics.median(values) for name, values in times.items()}
    return {"module_us": result["module"], "op_us": result["op"], "overhead_us": result["module"] - result["op"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraspike.bench.overhead", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=[",".join(map(str, s)) for s in DEFAULT_SHAPES],
        help="input shapes T,B,C (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=500, help="calls per round")
    parser.add_argument("--out", type=Path, default=None, help="folder for module_overhead_cpu.json")
    args = parser.parse_args(argv)
    if cpu_kernel_missing():
        return 1
    shapes = [tuple(int(v) for v in text.split(",")) for text in args.shapes]
    for text, shape in zip(args.shapes, shapes, strict=True):
        if len(shape) != 3:
            parser.error(f"--shapes takes T,B,C triples, got {text!r}")
    rows = []
    print(f"{'shape [T, B, C]':<18} {'module':>10} {'bare op':>10} {'overhead':>10}")
    with threads_set_to(1):
        for shape in shapes:
            row = {"shape": list(shape), **time_module_and_op(shape, args.rounds, args.calls)}
            rows.append(row)
            print(
                f"{str(list(shape)):<18} {row['module_us']:>7.1f} us {row['op_us']:>7.1f} us "
                f"{row['overhead_us']:>7.1f} us",
                flush=True,
            )
    if args.out is not None:
        record = program_record(
            "DSN module around its fused CPU kernel, forward + backward, one thread",
            "paraspike.bench.overhead",
            argv,
            torch.device("cpu"),
            rounds=args.rounds,
            calls_per_round=args.calls,
            rows=rows,
        )
        save_record(args.out, "module_overhead_cpu.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
