"""The ``paraspike`` command line: ``paraspike demo``, ``paraspike bench scan``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from paraspike import __version__, demo
    from paraspike.bench import scan as bench_scan

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
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
