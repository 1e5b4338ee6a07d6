"""``paraspike approx``: run the approximation study from a config, print its F1 table, write the JSON
and the trace figures."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="a YAML study config (configs/approximation.yaml)")
    parser.add_argument("--fresh", action="store_true", help="discard the fits already in <out>/results.json")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. seeds=[0] fit.steps=200")


def main(args: argparse.Namespace) -> None:
    from paraspike.tasks.approximation.study import load_study_config, run_study
    from paraspike.train.report_approx import plot_traces, summarize

    config = load_study_config(args.config, args.overrides)
    document = run_study(config, fresh=args.fresh)
    main_records = [r for r in document["records"] if not r["ablation"]]
    f1 = summarize(main_records, "f1")
    models = [*config["models"], "dsn-int"]
    print("F1 on spikes (mean +- std over seeds), window k =", config["kernel_size"])
    print(f"{'input':<11} {'target':<12} " + " ".join(f"{m:>13}" for m in models))
    for kind in config["inputs"]:
        for target in dict.fromkeys(r["target"] for r in main_records):
            cells = []
            for m in models:
                mean, std = f1.get((kind, target, m, config["kernel_size"]), (float("nan"), 0.0))
                cells.append(f"{mean:6.3f} +-{std:5.3f}")
            print(f"{kind:<11} {target:<12} " + " ".join(cells))
    out = Path(config["out"])
    for path in plot_traces(document, out):
        print("figure:", path)
    print("results:", out / "results.json")
