"""Recomputed against saved membrane potentials: what the fused CPU kernel's default costs and saves.

With ``k <= 4`` taps the kernel's backward recomputes ``H`` from ``x`` instead of reading it saved,
a 32-step tile at a time from the ``H`` the forward kept at each tile's last step, so the forward
writes and autograd keeps one ``H`` row per 32 steps (none up to 32); ``PARASPIKE_RECOMPUTE_H=0``
restores the saved ``H``. This times one DSN layer forward +
backward both ways in one process, the two modes alternated every round (the variable is read on
every call), each run after a copy of 48 MiB that evicts the layer's tensors from the caches (as the
other models of the layer suite do between its runs), and counts the bytes autograd saves for the
backward (``torch.autograd.graph.saved_tensors_hooks``); then the same count for a whole network, the
spiking VGG of :mod:`paraspike.bench.networks` with DSN neurons (distinct storages, so a tensor saved by
two layers counts once).

Run: ``python -m paraspike.bench.recompute --out results``; prints a table and writes
``<out>/bench_recompute_cpu.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from paraspike.bench.common import cpu_kernel_missing, program_record, save_record
from paraspike.bench.timing import _forward_backward

__all__ = ["MODES", "network_saved_mebibytes", "saved_mebibytes", "time_modes", "main"]

MODES = {"saved H": "0", "recomputed H": ""}  # PARASPIKE_RECOMPUTE_H per mode ("": the default)
DEFAULT_SHAPES = ("1,16,128,16,16", "2,16,128,16,16", "4,16,128,16,16", "8,16,128,16,16", "32,16,128,16,16")
EVICTING_COPY_MIB = 48


@contextmanager
def recompute_h_set_to(setting: str) -> Iterator[None]:
    """Run the block with ``PARASPIKE_RECOMPUTE_H`` set to ``setting`` (unset when empty)."""
    before = os.environ.pop("PARASPIKE_RECOMPUTE_H", None)
    if setting:
        os.environ["PARASPIKE_RECOMPUTE_H"] = setting
    try:
        yield
    finally:
        os.environ.pop("PARASPIKE_RECOMPUTE_H", None)
        if before is not None:
            os.environ["PARASPIKE_RECOMPUTE_H"] = before


def _saved_mebibytes(forward: Callable[[], object]) -> float:
    """MiB of the distinct storages that autograd saves for the backward of ``forward()`` (a tensor
    saved by two operations counts once)."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward()
    return sum(storages.values()) / 2**20


def saved_mebibytes(neuron: torch.nn.Module, x: torch.Tensor) -> float:
    """MiB that autograd saves for the backward of one forward of ``neuron`` on ``x`` from a reset state."""

    def forward() -> torch.Tensor:
        neuron.reset()
        return neuron(x)

    return _saved_mebibytes(forward)


def network_saved_mebibytes(network: str) -> float:
    """MiB that autograd saves for one forward of the spiking VGG ``NETWORKS[network]``
    (:mod:`paraspike.bench.networks`) with DSN neurons, under the current ``PARASPIKE_RECOMPUTE_H``."""
    from paraspike.bench.networks import NETWORKS
    from paraspike.models import SpikingVGG
    from paraspike.neurons import reset_net

    shape = NETWORKS[network]
    torch.manual_seed(0)
    model = SpikingVGG(shape.channels, shape.size, shape.steps, shape.classes, "dsn", widths=shape.widths)
    x = torch.rand(shape.batch, shape.steps, shape.channels, shape.size, shape.size)

    def forward() -> torch.Tensor:
        reset_net(model)
        return model(x)

    return _saved_mebibytes(forward)


def time_modes(shape: tuple[int, ...], rounds: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per mode: median forward, backward and total seconds of a default DSN on a random input
    ``shape`` ``[T, B, C, *]`` over ``rounds`` alternated rounds, and the MiB saved for backward."""
    from paraspike.neurons import DSN

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen).requires_grad_()
    grad = torch.randn(*shape, generator=gen)
    neuron = DSN(shape[2])
    source = torch.ones(EVICTING_COPY_MIB * 2**18)
    target = torch.empty_like(source)

    def run() -> tuple[float, float]:
        target.copy_(source)  # evicts the layer's tensors from the caches
        return _forward_backward(neuron, x, grad, torch.device("cpu"))

    result: dict[str, dict[str, float]] = {}
    times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for mode, setting in MODES.items():
        with recompute_h_set_to(setting):
            for _ in range(3):
                run()
            result[mode] = {"saved_mib": saved_mebibytes(neuron, x)}
    for _ in range(rounds):
        for mode, setting in MODES.items():
            with recompute_h_set_to(setting):
                times[mode].append(run())
    for mode, measured in times.items():
        result[mode].update(
            forward_s=statistics.median(f for f, _ in measured),
            backward_s=statistics.median(b for _, b in measured),
            total_s=statistics.median(f + b for f, b in measured),
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraspike.bench.recompute", description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=list(DEFAULT_SHAPES), help="inputs T,B,C,... (%(default)s)")
    parser.add_argument("--rounds", type=int, default=40, help="alternated rounds per shape")
    parser.add_argument(
        "--networks", nargs="*", default=["event", "image", "image-t2"], help="spiking VGGs to count (%(default)s)"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for bench_recompute_cpu.json")
    args = parser.parse_args(argv)
    if cpu_kernel_missing():
        return 1
    rows = []
    print(
        f"forward + backward ms (medians of {args.rounds} alternated rounds, caches evicted before each), "
        f"MiB saved for backward; {torch.get_num_threads()} threads"
    )
    for text in args.shapes:
        shape = tuple(int(part) for part in text.split(","))
        measured = time_modes(shape, args.rounds)
        before, after = measured["saved H"], measured["recomputed H"]
        ratio = after["total_s"] / before["total_s"]
        rows.append({"shape": list(shape), **{mode: values for mode, values in measured.items()}, "ratio": ratio})
        print(
            f"{str(list(shape)):24s} saved H {before['total_s'] * 1e3:7.3f} ms ({before['saved_mib']:6.1f} MiB)"
            f"  recomputed H {after['total_s'] * 1e3:7.3f} ms ({after['saved_mib']:6.1f} MiB)  time x{ratio:.3f}",
            flush=True,
        )
    networks = {}
    for network in args.networks:
        counts = {}
        for mode, setting in MODES.items():
            with recompute_h_set_to(setting):
                counts[mode] = network_saved_mebibytes(network)
        networks[network] = counts
        print(
            f"spiking VGG '{network}': autograd saves {counts['saved H']:.1f} MiB with saved H, "
            f"{counts['recomputed H']:.1f} MiB recomputed",
            flush=True,
        )
    if args.out is not None:
        record = program_record(
            "DSN layer forward+backward, H recomputed vs saved",
            "paraspike.bench.recompute",
            argv,
            torch.device("cpu"),
            threads=torch.get_num_threads(),
            rounds=args.rounds,
            rows=rows,
            networks_saved_mib=networks,
        )
        save_record(args.out, "bench_recompute_cpu.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
