"""Whole training steps of a spiking CNN: the same network with each neuron, in one process.

A neuron layer alone (``paraspike bench speed --suite layers``) is what the fused kernel changes;
what a user feels is the training step of a network. This builds :class:`paraspike.models.SpikingVGG`
(``[Conv3x3 -> BN -> neuron] x 2 -> AvgPool`` per stage, then a linear classifier, mean over time)
once per neuron and times a whole step: reset the state, forward, cross-entropy, backward, SGD step.
The networks are timed interleaved (each round runs every network once) and the table reports the
median step and forward times, and each network's step time relative to the DSN's.

Networks (``--networks``):

- ``event``: N-MNIST-sized event frames ``[B=16, T=8, 2, 34, 34]``, widths (32, 64) (the size of the
  project's N-MNIST experiment);
- ``image``: CIFAR-sized frames ``[B=32, T=4, 3, 32, 32]``, widths (64, 128);
- ``image-t2``: the same at ``T = 2``.

Neurons: the DSN (integer, N = 4, and binary), our LIF, and SpikingJelly 2.0.0's ``LIFNode``,
``ParametricLIFNode`` (multi-step, torch backend) and ``PSN`` when it is installed.

Run: ``python -m paraspike.bench.networks --out results`` (``--device cuda`` on a GPU); prints a table
and writes ``<out>/bench_networks_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from paraspike.bench.common import program_record, save_record, sync
from paraspike.models import SpikingVGG
from paraspike.neurons import register_neuron, reset_net

__all__ = ["NETWORKS", "NetworkShape", "network_neurons", "network_table", "time_training_steps", "main"]


@dataclass(frozen=True)
class NetworkShape:
    """A benchmarked network: input ``[batch, steps, channels, size, size]`` and the VGG's widths."""

    batch: int
    steps: int
    channels: int
    size: int
    widths: tuple[int, ...]
    classes: int = 10


NETWORKS = {
    "event": NetworkShape(16, 8, 2, 34, (32, 64)),
    "image": NetworkShape(32, 4, 3, 32, (64, 128)),
    "image-t2": NetworkShape(32, 2, 3, 32, (64, 128)),
}


def network_neurons() -> tuple[dict[str, str], list[str]]:
    """``{label: registry name}`` of the neurons to compare, and notes on what was left out. The
    SpikingJelly neurons are added to the registry as ``sj-lif``, ``sj-plif`` and ``sj-psn``."""
    neurons = {"DSN-int": "dsn", "DSN-bin": "dsn-binary", "LIF [ours]": "lif"}
    try:
        from spikingjelly.activation_based import neuron as sj
    except Exception as error:  # not installed, or its optional imports fail
        return neurons, [f"spikingjelly not importable ({error}); pip install --no-deps spikingjelly==2.0.0 loguru"]
    register_neuron("sj-lif", lambda c, t, **o: sj.LIFNode(step_mode="m", **o))
    register_neuron("sj-plif", lambda c, t, **o: sj.ParametricLIFNode(step_mode="m", **o))
    register_neuron("sj-psn", lambda c, t, **o: sj.PSN(t, **o))
    neurons |= {"SJ LIFNode (m)": "sj-lif", "SJ ParametricLIFNode (m)": "sj-plif", "SJ PSN": "sj-psn"}
    return neurons, []


def time_training_steps(
    shape: NetworkShape,
    neurons: dict[str, str],
    rounds: int,
    min_time_s: float,
    seed: int = 0,
    device: torch.device | None = None,
) -> dict[str, dict[str, float]]:
    """Median step and forward seconds of one SGD training step for each neuron's network on
    ``device`` (default CPU; interleaved rounds until each network has ``rounds`` steps and
    ``min_time_s`` of them), with the parameter count."""
    device = device or torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(shape.batch, shape.steps, shape.channels, shape.size, shape.size, generator=gen).to(device)
    y = torch.randint(0, shape.classes, (shape.batch,), generator=gen).to(device)
    loss_fn = nn.CrossEntropyLoss()
    steps: dict[str, Callable[[], tuple[float, float]]] = {}
    sizes: dict[str, int] = {}
    for label, name in neurons.items():
        torch.manual_seed(seed)
        model = SpikingVGG(shape.channels, shape.size, shape.steps, shape.classes, name, widths=shape.widths)
        model = model.to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        sizes[label] = sum(p.numel() for p in model.parameters())

        def step(model: nn.Module = model, optimizer: torch.optim.Optimizer = optimizer) -> tuple[float, float]:
            sync(device)
            start = time.perf_counter()
            reset_net(model)
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            sync(device)
            middle = time.perf_counter()
            loss_fn(logits, y).backward()
            optimizer.step()
            sync(device)
            return time.perf_counter() - start, middle - start

        for _ in range(2):  # warm-up: kernels, allocator, optimizer state
            step()
        steps[label] = step
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in steps}
    spent = dict.fromkeys(steps, 0.0)
    while any(len(times[k]) < rounds or spent[k] < min_time_s for k in steps):
        for label, step in steps.items():
            total, forward = step()
            times[label].append((total, forward))
            spent[label] += total
    return {
        label: {
            "step_s": statistics.median(t for t, _ in measured),
            "forward_s": statistics.median(f for _, f in measured),
            "runs": len(measured),
            "parameters": sizes[label],
        }
        for label, measured in times.items()
    }


def network_table(result: dict) -> list[str]:
    """Markdown: one table per network, the step time of each neuron's network relative to the DSN's."""
    lines = []
    for network, timed in result["networks"].items():
        s = result["shapes"][network]
        reference = timed["DSN-int"]["step_s"]
        lines += [
            "",
            f"## {network}: input [B={s['batch']}, T={s['steps']}, {s['channels']}, {s['size']}, {s['size']}], "
            f"widths {tuple(s['widths'])}",
            "",
            "| neuron | step | forward | step relative to DSN-int |",
            "|---|---:|---:|---:|",
        ]
        for label, row in timed.items():
            lines.append(
                f"| {label} | {row['step_s'] * 1e3:.1f} ms | {row['forward_s'] * 1e3:.1f} ms "
                f"| {row['step_s'] / reference:.2f}x |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraspike.bench.networks", description=__doc__.split("\n")[0])
    parser.add_argument("--networks", nargs="+", choices=sorted(NETWORKS), default=list(NETWORKS))
    parser.add_argument("--rounds", type=int, default=7, help="at least this many steps per network")
    parser.add_argument("--min-time", type=float, default=3.0, help="at least this many seconds per network")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="folder for bench_networks_<device>.json and .md")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to PyTorch")
    neurons, notes = network_neurons()
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    result: dict = program_record(
        "SpikingVGG training step (reset, forward, cross-entropy, backward, SGD), per neuron",
        "paraspike.bench.networks",
        argv,
        device,
        device=device.type,
        threads=torch.get_num_threads(),
        notes=notes,
        shapes={},
        networks={},
    )
    for network in args.networks:
        shape = NETWORKS[network]
        result["shapes"][network] = shape.__dict__ | {"widths": list(shape.widths)}
        print(
            f"{network}: [B={shape.batch}, T={shape.steps}, {shape.channels}, {shape.size}, {shape.size}]", flush=True
        )
        timed = time_training_steps(shape, neurons, args.rounds, args.min_time, device=device)
        result["networks"][network] = timed
        for label, row in timed.items():
            ratio = row["step_s"] / timed["DSN-int"]["step_s"]
            print(
                f"  {label:<26} step {row['step_s'] * 1e3:8.1f} ms  forward {row['forward_s'] * 1e3:7.1f} ms  "
                f"x {ratio:5.2f} vs DSN",
                flush=True,
            )
    if args.out is not None:
        save_record(args.out, f"bench_networks_{device.type}.json", result)
        header = [
            "# `python -m paraspike.bench.networks` results",
            "",
            f"Command: `{result['command']}`  ",
            f"Date: {result['date']}; device {device.type}; {result['threads']} threads; torch {torch.__version__}.  ",
            "One SGD training step of the same SpikingVGG with each neuron (reset, forward, cross-entropy, "
            "backward, optimizer step), float32; networks timed interleaved, medians over the steps.",
        ]
        (args.out / f"bench_networks_{device.type}.md").write_text("\n".join(header + network_table(result)) + "\n")
        print(f"written to {args.out}/bench_networks_{device.type}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
