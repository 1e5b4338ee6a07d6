"""Tutorial 5: training with the command line. A YAML config, overrides on the command line, a run
folder with checkpoints, CSV and TensorBoard logs, resuming and extending a run, and the experiment grid.

Run: python docs/tutorials/cli_training.py  (trains two tiny runs under a temporary folder)
The same steps in a shell:
    paraspike train --config configs/smnist.yaml trainer.max_epochs=1 data.train_size=512
    paraspike train --config configs/smnist.yaml --resume runs/smnist/seed0/checkpoints/last.ckpt trainer.max_epochs=2
    tensorboard --logdir runs/smnist/seed0/tensorboard
    python -m paraspike.train.experiments list      # the grid behind docs/results.md
Multi-process data-parallel training (DDP) is the same command with trainer.devices=2 and
trainer.strategy=ddp (on GPUs: trainer.accelerator=gpu); the ranks share one run folder.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from paraspike.cli import main as paraspike


def main(out: Path = Path("docs/tutorials/figures"), quick: bool = False) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="paraspike-cli-"))
    config = folder / "tiny.yaml"
    config.write_text(
        "name: tiny\n"
        f"out: {folder / 'runs'}\n"
        "data: {dataset: digits, presentation: row, train_size: 128, test_size: 64, batch_size: 32}\n"
        "model: {name: sequential-image, neuron: dsn, options: {channels: 8, hidden: 16}}\n"
        "trainer: {max_epochs: 1, enable_progress_bar: false}\n"
    )
    paraspike(["train", "--config", str(config), "model.neuron=lif"])  # an override: the LIF baseline
    paraspike(["train", "--config", str(config)])  # the DSN, in the next folder (seed0-2)
    run = folder / "runs" / "tiny" / "seed0-2"
    paraspike(
        ["train", "--config", str(config), "--resume", str(run / "checkpoints" / "last.ckpt"), "trainer.max_epochs=2"]
    )
    rows = list(csv.DictReader(next((run / "logs").rglob("metrics.csv")).open()))
    epochs = sorted({int(r["epoch"]) for r in rows if r.get("epoch")})
    return {
        "epochs_logged": float(len(epochs)),
        "tensorboard_files": float(len(list((run / "tensorboard").rglob("*tfevents*")))),
    }


if __name__ == "__main__":
    print(main())
