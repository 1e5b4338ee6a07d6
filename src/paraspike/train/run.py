"""``paraspike train``: one configured run (fit, test, firing rates), recorded so it can be rerun.

The run folder ``<out>/<name>/seed<seed>/`` receives ``config.yaml`` (the resolved config),
``metrics.json`` (test accuracy, per-epoch wall time, per-layer binary firing rates, the data
sizes and budget, machine, versions, seed), CSV and TensorBoard logs, ``checkpoints/last.ckpt``
and ``weights_rank<r>.pt`` (the final parameters of each process).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from paraspike.train.data import SpikeDataModule
from paraspike.train.firing import FiringRateMonitor
from paraspike.train.module import SpikeClassifier

__all__ = ["train", "run_folder"]


class _EpochTimer(Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.seconds.append(time.perf_counter() - self._start)


class _StopAfter(Callback):
    """Stops training after ``epochs`` epochs, as an interruption would (the LR schedule still spans
    ``trainer.max_epochs``); ``--resume`` continues from ``checkpoints/last.ckpt``."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def run_folder(config: dict[str, Any]) -> Path:
    return Path(config["out"]) / config["name"] / f"seed{config['seed']}"


def train(config: dict[str, Any], resume: str | None = None) -> dict[str, Any]:
    """Fit and test the configured model; returns (and writes) the metrics."""
    folder = run_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    L.seed_everything(config["seed"], workers=True, verbose=False)
    data = SpikeDataModule(config)
    module = SpikeClassifier(config, data.input_shape, data.classes)
    trainer_options = {k: v for k, v in config["trainer"].items() if v is not None}
    timer = _EpochTimer()
    checkpoint = ModelCheckpoint(dirpath=folder / "checkpoints", save_last=True, save_top_k=0)
    trainer = L.Trainer(
        default_root_dir=folder,
        logger=[CSVLogger(folder, name="logs"), TensorBoardLogger(folder, name="tensorboard")],
        callbacks=[checkpoint, timer]
        + ([_StopAfter(config["stop_after_epochs"])] if config["stop_after_epochs"] else []),
        use_distributed_sampler=False,  # SpikeDataModule shards by rank with a per-epoch seed
        **trainer_options,
    )
    if trainer.global_rank == 0:
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    trainer.fit(module, datamodule=data, ckpt_path=resume)
    torch.save(
        {k: v.detach().cpu() for k, v in module.model.named_parameters()},
        folder / f"weights_rank{trainer.global_rank}.pt",
    )
    monitor = FiringRateMonitor(module.model)
    tested = trainer.test(module, datamodule=data, verbose=False)
    monitor.remove()
    metrics = {
        "name": config["name"],
        "seed": config["seed"],
        "test_acc": float(tested[0]["test_acc"]) if tested else None,
        "test_loss": float(tested[0]["test_loss"]) if tested else None,
        "epochs": int(trainer.current_epoch),
        "epoch_seconds": timer.seconds,
        "firing_rate_binary": monitor.rates(),
        "firing_rate_overall": monitor.overall(),
        "data": {"source": data.source, "input_shape": list(data.input_shape), **data.sizes()},
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "lightning": L.__version__,
            "world_size": trainer.world_size,
        },
        "resumed_from": resume,
        "config": config,
    }
    if trainer.global_rank == 0:
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
