"""``paraspike energy``: operation counts and energy of a trained run (or a config's new model) on
test samples, as a table and JSON (:func:`paraspike.energy.estimate_energy`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from paraspike.energy import COST_TABLES

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="RUN_OR_CONFIG", help="a run folder (runs/<name>/seed<k>) or a config file")
    parser.add_argument("--batches", type=int, default=1, help="test batches to run (default 1)")
    parser.add_argument("--cost-table", default="45nm-fp32", choices=sorted(COST_TABLES), help="pJ per operation")
    parser.add_argument("--out", default=None, help="write the report here as JSON (default: <run>/energy.json)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides (for a config file)")


def main(args: argparse.Namespace) -> None:
    from paraspike.energy import estimate_energy
    from paraspike.train.load import load_run

    if args.batches < 1:
        raise ValueError(f"--batches must be at least 1, got {args.batches}")
    module, data, config, checkpoint = load_run(args.source, args.overrides)
    data.setup("test")
    inputs = []
    for index, batch in enumerate(data.test_dataloader()):
        if index == args.batches:
            break
        inputs.append(batch[0])
    x = torch.cat(inputs)
    report = estimate_energy(module, x, cost_table=args.cost_table, batch_dim=0)
    weights = str(checkpoint) if checkpoint is not None else "untrained (a config file: new weights)"
    model = config["model"]
    print(f"{config['name']} ({config['task']}, {model['name']} with {model['neuron']}); weights: {weights}")
    print(f"{report.samples} test samples of shape {tuple(x.shape[1:])}")
    print(report.format_table())
    source = Path(args.source)
    out = Path(args.out) if args.out else (source / "energy.json" if source.is_dir() else None)
    if out is not None:
        document = {"source": str(source), "checkpoint": weights, "task": config["task"], "model": config["model"]}
        document |= {"input_shape": list(x.shape[1:]), **report.as_dict()}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2))
        print("written:", out)
