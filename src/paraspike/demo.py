"""``paraspike demo``: train a small DSN network on real data, then check parallel == serial.

Default data: scikit-learn's 8x8 digits read pixel by pixel (T = 64 steps, 1 input per step).
With ``--data DIR`` the MNIST test split found in DIR is re-split into train/test and read row
by row (T = 28) or pixel by pixel (T = 784, slow on a CPU).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from paraspike.data import load_digits_split, load_mnist_idx, split_train_test
from paraspike.neurons import DSN, describe_backends, reset_net
from paraspike.nn import MultiStep, set_step_mode

__all__ = ["DemoConfig", "build_model", "to_sequence", "run_demo", "add_arguments"]


@dataclass
class DemoConfig:
    epochs: int = 60
    hidden: int = 128
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    max_spike: int = 4
    data: str | None = None
    sequence: str = "pixel"
    threads: int | None = None
    out: str | None = None


def build_model(inputs: int, hidden: int, classes: int, max_spike: int) -> nn.Sequential:
    """``[T, B, inputs]`` -> two DSN layers -> per-step class scores ``[T, B, classes]``."""
    return nn.Sequential(
        MultiStep(nn.Linear(inputs, hidden)),
        MultiStep(nn.BatchNorm1d(hidden)),
        DSN(hidden, max_spike=max_spike),
        MultiStep(nn.Linear(hidden, hidden)),
        MultiStep(nn.BatchNorm1d(hidden)),
        DSN(hidden, max_spike=max_spike),
        MultiStep(nn.Linear(hidden, classes)),
    )


def to_sequence(images: Tensor, sequence: str) -> Tensor:
    """Images ``[B, H, W]`` to a time-first sequence: ``pixel`` ``[H*W, B, 1]`` or ``row`` ``[H, B, W]``."""
    if sequence == "pixel":
        return images.flatten(1).t().unsqueeze(-1).contiguous()
    if sequence == "row":
        return images.transpose(0, 1).contiguous()
    raise ValueError(f"sequence must be 'pixel' or 'row', got {sequence!r}")


def _parallel_logits(model: nn.Module, x_seq: Tensor) -> Tensor:
    reset_net(model)
    return model(x_seq).mean(0)


def _record_spikes(model: nn.Module) -> tuple[list[list[Tensor]], list[torch.utils.hooks.RemovableHandle]]:
    records: list[list[Tensor]] = []
    handles = []
    for module in model.modules():
        if isinstance(module, DSN):
            store: list[Tensor] = []
            records.append(store)
            handles.append(module.register_forward_hook(lambda m, i, o, store=store: store.append(o.detach())))
    return records, handles


def compare_parallel_serial(model: nn.Module, x_seq: Tensor) -> dict[str, float]:
    """Run ``x_seq`` once in parallel and once step by step; compare spikes and time both."""
    model.eval()
    with torch.no_grad():
        records, handles = _record_spikes(model)
        reset_net(model)
        start = time.perf_counter()
        parallel_out = model(x_seq)
        parallel_s = time.perf_counter() - start
        parallel = [torch.cat(r) for r in records]
        for r in records:
            r.clear()
        set_step_mode(model, "s")
        reset_net(model)
        start = time.perf_counter()
        serial_out = torch.stack([model(x_t) for x_t in x_seq])
        serial_s = time.perf_counter() - start
        set_step_mode(model, "m")
        serial = [torch.stack(r) for r in records]
        for handle in handles:
            handle.remove()
    same = torch.ones(x_seq.shape[1], dtype=torch.bool)
    for p, s in zip(parallel, serial, strict=True):
        same &= (p == s).flatten(2).all(2).all(0)
    return {
        "identical_spike_fraction": same.float().mean().item(),
        "max_output_difference": (parallel_out - serial_out).abs().max().item(),
        "parallel_forward_s": parallel_s,
        "serial_forward_s": serial_s,
        "parallel_speedup": serial_s / parallel_s,
    }


def _load(config: DemoConfig) -> tuple[Tensor, Tensor, Tensor, Tensor, str]:
    if config.data is None:
        split, name = load_digits_split(config.seed), "scikit-learn digits (8x8)"
    else:
        images, labels = load_mnist_idx(config.data, "t10k")
        split, name = split_train_test(images, labels, 0.2, config.seed), f"MNIST t10k split from {config.data}"
    return (*split, f"{name}, {len(split[1])} train / {len(split[3])} test samples")


def run_demo(config: DemoConfig) -> dict[str, object]:
    """Train, evaluate and compare; returns (and optionally writes) the metrics."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    x_train, y_train, x_test, y_test, description = _load(config)
    seq_train, seq_test = to_sequence(x_train, config.sequence), to_sequence(x_test, config.sequence)
    model = build_model(seq_train.shape[-1], config.hidden, 10, config.max_spike)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs)
    print(f"data: {description}; sequence: {config.sequence}, T = {seq_train.shape[0]}")
    backends = describe_backends(model)
    print(
        f"model: 2 DSN layers x {config.hidden} channels, N = {config.max_spike}, "
        f"computed by: {', '.join(sorted(set(backends.values())))}, {torch.get_num_threads()} threads"
    )
    start = time.perf_counter()
    progress = tqdm(range(config.epochs), desc="training", unit="epoch")
    test_accuracy = 0.0
    for _ in progress:
        model.train()
        order = torch.randperm(seq_train.shape[1])
        for i in range(0, len(order), config.batch_size):
            batch = order[i : i + config.batch_size]
            loss = F.cross_entropy(_parallel_logits(model, seq_train[:, batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            test_accuracy = (_parallel_logits(model, seq_test).argmax(1) == y_test).float().mean().item()
        progress.set_postfix(loss=f"{loss.item():.3f}", test_acc=f"{test_accuracy:.3f}")
    train_s = time.perf_counter() - start
    comparison = compare_parallel_serial(model, seq_test)
    result: dict[str, object] = {
        "config": asdict(config),
        "data": description,
        "test_accuracy": test_accuracy,
        "train_seconds": train_s,
        "backends": backends,
        "threads": torch.get_num_threads(),
        **comparison,
    }
    print(f"test accuracy: {test_accuracy:.4f} ({len(y_test)} samples, {config.epochs} epochs, {train_s:.0f} s)")
    print(f"spikes identical in parallel and serial runs: {comparison['identical_spike_fraction']:.4f} of test samples")
    print(
        f"parallel forward {comparison['parallel_forward_s'] * 1e3:.1f} ms vs serial "
        f"{comparison['serial_forward_s'] * 1e3:.1f} ms: {comparison['parallel_speedup']:.1f}x faster"
    )
    if config.out:
        Path(config.out).parent.mkdir(parents=True, exist_ok=True)
        Path(config.out).write_text(json.dumps(result, indent=2))
        print(f"metrics written to {config.out}")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DemoConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs (default %(default)s)")
    parser.add_argument("--hidden", type=int, default=defaults.hidden, help="channels of each DSN layer (%(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="batch size (%(default)s)")
    parser.add_argument(
        "--lr", type=float, default=defaults.lr, help="Adam learning rate, cosine schedule (%(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="seed of the split, init and order (%(default)s)"
    )
    parser.add_argument("--max-spike", type=int, default=defaults.max_spike, help="N (1 = binary spikes; %(default)s)")
    parser.add_argument("--data", default=None, help="folder with MNIST IDX files (t10k-*); default: sklearn digits")
    parser.add_argument(
        "--sequence",
        choices=["pixel", "row"],
        default=None,
        help="pixel-by-pixel or row-by-row (default: pixel for digits, row for MNIST)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="write the metrics as JSON to this file")


def main(args: argparse.Namespace) -> None:
    sequence = args.sequence or ("pixel" if args.data is None else "row")
    run_demo(
        DemoConfig(
            epochs=args.epochs,
            hidden=args.hidden,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            max_spike=args.max_spike,
            data=args.data,
            sequence=sequence,
            threads=args.threads,
            out=args.out,
        )
    )
