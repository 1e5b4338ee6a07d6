"""The ``paraspike`` command line: ``demo``, ``train``, ``data download``, ``bench scan|speed``, ``build-kernels``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from paraspike import __version__, demo
    from paraspike.bench import scan as bench_scan
    from paraspike.bench import speed as bench_speed

    parser = argparse.ArgumentParser(prog="paraspike", description=__doc__)
    parser.add_argument("--version", action="version", version=f"paraspike {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="train a small DSN network and compare parallel vs serial")
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(run=demo.main)
    bench = commands.add_parser("bench", help="benchmark programs")
    benches = bench.add_subparsers(dest="bench", required=True)
    scan_parser = benches.add_parser("scan", help="forward+backward time of every scan backend")
    bench_scan.add_arguments(scan_parser)
    scan_parser.set_defaults(run=bench_scan.main)
    speed_parser = benches.add_parser("speed", help="the DSN against SpikingJelly's neurons and our baselines")
    bench_speed.add_arguments(speed_parser)
    speed_parser.set_defaults(run=bench_speed.main)
    train_parser = commands.add_parser("train", help="train and test a configured model (Lightning)")
    train_parser.add_argument("--config", default=None, help="a YAML run config (see configs/)")
    train_parser.add_argument("--data-dir", default=None, help="the dataset's local folder (sets data.dir)")
    train_parser.add_argument("--resume", default=None, help="a checkpoint to continue from (e.g. .../last.ckpt)")
    train_parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. trainer.max_epochs=5")
    train_parser.set_defaults(run=_train)
    data_parser = commands.add_parser("data", help="datasets")
    data_commands = data_parser.add_subparsers(dest="data_command", required=True)
    download_parser = data_commands.add_parser("download", help="fetch a dataset's canonical files (MD5-checked)")
    download_parser.add_argument("name", choices=["mnist", "fashion-mnist", "cifar10"])
    download_parser.add_argument("--dir", required=True, help="the folder to put the files in")
    download_parser.set_defaults(run=_download)
    build_parser_ = commands.add_parser("build-kernels", help="compile the fused CPU kernels now (else on first use)")
    build_parser_.set_defaults(run=_build_kernels)
    return parser


def _build_kernels(args: argparse.Namespace) -> None:
    from paraspike.kernels.cpu import cpu_kernels

    print(f"paraspike CPU kernels ready: {cpu_kernels()}")


def _train(args: argparse.Namespace) -> None:
    from paraspike.train import load_config, train

    overrides = list(args.overrides) + ([f"data.dir={args.data_dir}"] if args.data_dir else [])
    metrics = train(load_config(args.config, overrides), resume=args.resume)
    print(f"test accuracy {metrics['test_acc']:.4f}; binary firing rate {metrics['firing_rate_overall']}")


def _download(args: argparse.Namespace) -> None:
    from paraspike.data import download

    print(f"{args.name} ready in {download(args.name, args.dir)}")


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
