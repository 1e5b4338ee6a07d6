"""The paraspike command line: demo, train, lm stream|generate, data download, bench, build-kernels."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["main", "build_parser"]

DESCRIPTION = (
    "paraspike: spiking neural networks that train in parallel over time and run serially "
    "(the Dynamic Decay Spiking Neuron and its baselines)."
)
TRAIN_EPILOG = (
    "Overrides are key.sub=value pairs, parsed as YAML, anywhere on the line, e.g. "
    "paraspike train --config configs/sfmnist.yaml model.neuron=lif trainer.max_epochs=10 seed=1. "
    "A run writes runs/<name>/seed<k>/ (a new -2, -3, ... folder if that one holds a run). "
    "--resume <run folder>/checkpoints/last.ckpt continues that run in its folder; with a larger "
    "trainer.max_epochs the remaining epochs follow the schedule of the longer run."
)


def build_parser() -> argparse.ArgumentParser:
    from paraspike import __version__, demo
    from paraspike.bench import contention as bench_contention
    from paraspike.bench import lm as bench_lm
    from paraspike.bench import scan as bench_scan
    from paraspike.bench import speed as bench_speed
    from paraspike.tasks import lm_commands as lm_tools
    from paraspike.tasks.approximation import command as approx_tools
    from paraspike.train import energy_command as energy_tools

    parser = argparse.ArgumentParser(prog="paraspike", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"paraspike {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser(
        "demo",
        help="train a small DSN network and compare parallel vs serial",
        description="Train two DSN layers on scikit-learn digits (or an MNIST folder) and check that the "
        "parallel (multi-step) and serial (single-step) runs give the same spikes.",
    )
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(run=demo.main)
    bench = commands.add_parser("bench", help="benchmark programs", description="Benchmark programs.")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    scan_parser = benches.add_parser(
        "scan", help="forward+backward time of every scan backend", description="Time every linear-scan backend."
    )
    bench_scan.add_arguments(scan_parser)
    scan_parser.set_defaults(run=bench_scan.main)
    speed_parser = benches.add_parser(
        "speed",
        help="the DSN against SpikingJelly's neurons and our baselines",
        description="Forward+backward of one neuron layer: the DSN against SpikingJelly's neurons and "
        "paraspike's baselines in one process; writes JSON, a markdown table and a plot.",
    )
    bench_speed.add_arguments(speed_parser)
    speed_parser.set_defaults(run=bench_speed.main)
    contention_parser = benches.add_parser(
        "contention",
        help="a DSN layer's slowdown while another process keeps a core busy",
        description="Time one DSN layer per backend, thread count and OpenMP setting, on a quiet machine and "
        "while another process spins on one core.",
    )
    bench_contention.add_arguments(contention_parser)
    contention_parser.set_defaults(run=bench_contention.main)
    lm_bench_parser = benches.add_parser(
        "lm",
        help="training speed of the spiking SSM language model per neuron",
        description="Forward+backward of the spiking SSM language model with each neuron, interleaved in one "
        "process: tokens per second, ratio to the DSN, parameters, peak memory.",
    )
    bench_lm.add_arguments(lm_bench_parser)
    lm_bench_parser.set_defaults(run=bench_lm.main)
    train_parser = commands.add_parser(
        "train",
        help="train and test a configured model (Lightning)",
        description="Train, validate and test a configured model with Lightning.",
        epilog=TRAIN_EPILOG,
    )
    train_parser.add_argument("--config", default=None, help="a YAML run config (see configs/)")
    train_parser.add_argument("--data-dir", default=None, help="the dataset's local folder (sets data.dir)")
    train_parser.add_argument(
        "--resume", default=None, help="a checkpoint to continue from (.../checkpoints/last.ckpt)"
    )
    train_parser.add_argument(
        "overrides",
        nargs="*",
        help=(
            "key.sub=value overrides (values in YAML), e.g. trainer.max_epochs=5; model.options.dim=64 sets "
            "one model option, model.options={dim: 64} replaces them all"
        ),
    )
    train_parser.set_defaults(run=_train)
    lm_parser = commands.add_parser(
        "lm", help="run a trained language model", description="Run a trained language model (a run folder)."
    )
    lm_commands = lm_parser.add_subparsers(dest="lm_command", required=True, metavar="ACTION")
    stream_parser = lm_commands.add_parser(
        "stream",
        help="a long text in one pass, in constant memory: bits, tokens/s, peak memory",
        description="Read the first n tokens of a text in one pass with the state carried, chunk by chunk, "
        "for each n of --lengths; report bits per token, tokens per second and peak memory.",
    )
    generate_parser = lm_commands.add_parser(
        "generate",
        help="continue a prompt, one token at a time (the recurrent form)",
        description="Read the prompt, then generate one token at a time in single-step mode.",
    )
    lm_tools.add_arguments(stream_parser, generate_parser)
    stream_parser.set_defaults(run=lambda args: _guarded("lm stream", lm_tools.stream_main, args))
    generate_parser.set_defaults(run=lambda args: _guarded("lm generate", lm_tools.generate_main, args))
    energy_parser = commands.add_parser(
        "energy",
        help="operations and energy of a run or config on test samples",
        description="Count synaptic and neuron operations per layer on test samples and estimate energy with "
        "a 45 nm cost table (paraspike.energy); a run folder uses its trained weights.",
    )
    energy_tools.add_arguments(energy_parser)
    energy_parser.set_defaults(run=lambda args: _guarded("energy", energy_tools.main, args))
    approx_parser = commands.add_parser(
        "approx",
        help="the approximation study: fit a DSN to LIF spike trains",
        description="Fit one DSN (and the baselines) to the spike trains of LIF neurons with reset: "
        "targets x input kinds x models x seeds, and the window-k ablation (paraspike.tasks.approximation).",
    )
    approx_tools.add_arguments(approx_parser)
    approx_parser.set_defaults(run=lambda args: _guarded("approx", approx_tools.main, args))
    data_parser = commands.add_parser("data", help="datasets", description="Dataset utilities.")
    data_commands = data_parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    download_parser = data_commands.add_parser(
        "download",
        help="fetch a dataset's canonical files (MD5-checked)",
        description="Download a dataset's canonical files into a folder and check their MD5 sums.",
    )
    download_parser.add_argument("name", choices=["mnist", "fashion-mnist", "cifar10"], help="the dataset")
    download_parser.add_argument("--dir", required=True, help="the folder to put the files in")
    download_parser.set_defaults(run=_download)
    build_parser_ = commands.add_parser(
        "build-kernels",
        help="compile the fused CPU kernels now (else on first use)",
        description="Compile the fused CPU kernels for this Python environment now (they are otherwise "
        "compiled on first use, about 30 s).",
    )
    build_parser_.set_defaults(run=_build_kernels)
    return parser


def _build_kernels(args: argparse.Namespace) -> None:
    from paraspike.kernels.cpu import cpu_kernels

    print(f"paraspike CPU kernels ready: {cpu_kernels()}")


def _fail(command: str, error: BaseException) -> None:
    """A user's mistake (a config key, a value, a missing file): its message, no traceback."""
    message = error.args[0] if error.args else str(error)
    print(f"paraspike {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2) from None


def _guarded(command: str, run: Any, args: argparse.Namespace) -> None:
    try:
        run(args)
    except (FileNotFoundError, ValueError) as error:
        _fail(command, error)


def _train(args: argparse.Namespace) -> None:
    from paraspike.train import load_config, train

    overrides = list(args.overrides) + ([f"data.dir={args.data_dir}"] if args.data_dir else [])
    try:
        config = load_config(args.config, overrides)
    except (KeyError, TypeError, ValueError, FileNotFoundError) as error:
        _fail("train", error)
    try:
        metrics = train(config, resume=args.resume)
    except FileNotFoundError as error:  # data or checkpoint missing: the message says where and what to do
        _fail("train", error)
    if metrics.get("task") == "rl":
        print(
            f"evaluation return: best {metrics['best_return']:.1f}, final {metrics['final_return']:.1f}; "
            f"{metrics['steps_per_second']:.0f} steps/s; results in {metrics['run_folder']}"
        )
        return
    scores = {k: v for k, v in metrics.items() if k.startswith("test_") and isinstance(v, float)}
    shown = ", ".join(f"{k[5:]} {v:.4f}" for k, v in scores.items())
    print(f"test: {shown}; binary firing rate {metrics['firing_rate_overall']}; results in {metrics['run_folder']}")


def _download(args: argparse.Namespace) -> None:
    from paraspike.data import download

    print(f"{args.name} ready in {download(args.name, args.dir)}")


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; for ``train``, ``key=value`` overrides may stand before or after options."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) == "train" and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = _parse(parser, argv)
    args.run(args)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
