"""``paraspike train``: one configured run (fit, test, firing rates), recorded so it can be rerun.

A run gets its own folder ``<out>/<name>/seed<seed>/`` (``seed<seed>-2``, ``-3``, ... when that one
already holds a run: two runs are never mixed in one folder). ``--resume CKPT`` continues the run that
wrote ``CKPT`` in its own folder. The folder receives ``config.yaml`` (the resolved config),
``metrics.json`` (test accuracy, per-epoch wall time, per-layer binary firing rates, the data sizes and
budget, what computed each neuron layer, the learning-rate schedule, machine, versions, seed), CSV and
TensorBoard logs, ``checkpoints/last.ckpt`` (with early stopping also ``checkpoints/best.ckpt``, the weights of the
epoch with the best monitored loss, which the test then uses) and ``weights_rank<r>.pt`` (the tested
parameters of each process).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from paraspike.neurons import describe_backends
from paraspike.tasks import get_task
from paraspike.train.firing import FiringRateMonitor

__all__ = ["train", "run_folder", "new_run_folder", "resumed_run_folder", "unfinished_checkpoint"]

_FOLDER_VARIABLE = "PARASPIKE_RUN_FOLDER"  # rank 0 passes the folder to DDP processes it starts


class _EpochTimer(Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.first_epoch: int | None = None

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.first_epoch = trainer.current_epoch  # after a checkpoint was restored

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
    """The folder a new run of ``config`` would use first: ``<out>/<name>/seed<seed>``."""
    return Path(config["out"]) / config["name"] / f"seed{config['seed']}"


def new_run_folder(config: dict[str, Any]) -> Path:
    """:func:`run_folder`, or the first of ``...-2``, ``...-3`` that holds no run yet."""
    base = run_folder(config)
    candidate, number = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def unfinished_checkpoint(config: dict[str, Any]) -> Path | None:
    """The newest checkpoint of an interrupted run of exactly ``config`` (a folder of :func:`new_run_folder`'s
    sequence whose ``config.yaml`` equals ``config``, with ``checkpoints/last.ckpt`` or ``last.pt`` and no
    ``metrics.json`` yet), or None. The experiment grid resumes from it instead of starting over."""
    base = run_folder(config)
    found: list[Path] = []
    for folder in [base, *sorted(base.parent.glob(f"{base.name}-*"))]:
        saved = folder / "config.yaml"
        if (folder / "metrics.json").exists() or not saved.is_file():
            continue
        if yaml.safe_load(saved.read_text()) != config:
            continue
        found += [c for c in (folder / "checkpoints" / "last.ckpt", folder / "checkpoints" / "last.pt") if c.is_file()]
    return max(found, key=lambda c: c.stat().st_mtime) if found else None


def resumed_run_folder(checkpoint: str | os.PathLike[str]) -> Path:
    """The run folder that wrote ``checkpoint`` (``<folder>/checkpoints/<file>.ckpt``)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    folder = path.resolve().parent.parent
    if not (folder / "config.yaml").is_file():
        raise FileNotFoundError(
            f"{path} is not inside a paraspike run folder (no {folder / 'config.yaml'}); resume from "
            "<run folder>/checkpoints/last.ckpt"
        )
    return folder


def _schedule_note(config: dict[str, Any], resume: str | None) -> dict[str, Any]:
    optim = config["optim"]
    note: dict[str, Any] = {
        "schedule": optim["schedule"],
        "interval": optim["interval"],
        "warmup": optim["warmup"],
        "max_epochs": config["trainer"]["max_epochs"],
    }
    if resume is not None:
        saved = torch.load(resume, map_location="cpu", weights_only=False)
        previous = saved.get("hyper_parameters", {}).get("config", {}).get("trainer", {}).get("max_epochs")
        if previous is not None and previous != config["trainer"]["max_epochs"]:
            note["extended_from_max_epochs"] = previous
            print(
                f"paraspike: resuming with trainer.max_epochs={config['trainer']['max_epochs']} (was {previous}): "
                f"the remaining epochs follow the {optim['schedule']} schedule of a "
                f"{config['trainer']['max_epochs']}-epoch run",
                flush=True,
            )
    return note


def _tested_note(best: ModelCheckpoint | None) -> dict[str, Any]:
    """Which weights the test used: the last epoch's, or (early stopping) the best monitored epoch's."""
    if best is None or not best.best_model_path:
        return {"weights": "last epoch"}
    saved = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
    return {"weights": "best epoch", "epoch": int(saved["epoch"]), best.monitor: float(best.best_model_score)}


def train(config: dict[str, Any], resume: str | None = None) -> dict[str, Any]:
    """Fit and test the configured model; returns (and writes) the metrics, with ``run_folder``."""
    inherited = os.environ.get(_FOLDER_VARIABLE)
    if inherited:  # a DDP process started by rank 0: the same folder
        folder = Path(inherited)
    else:
        folder = resumed_run_folder(resume) if resume is not None else new_run_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    if config["task"] == "rl":  # TD3 has its own loop (no Lightning): paraspike.tasks.rl
        from paraspike.tasks.rl import run_rl

        print(f"paraspike: run folder {folder}", flush=True)
        return run_rl(config, folder, resume)
    L.seed_everything(config["seed"], workers=True, verbose=False)
    task = get_task(config["task"])
    module, data = task.build(config)
    trainer_options = {k: v for k, v in config["trainer"].items() if v is not None}
    timer = _EpochTimer()
    checkpoint = ModelCheckpoint(dirpath=folder / "checkpoints", save_last=True, save_top_k=0)
    callbacks: list[Callback] = [checkpoint, timer, LearningRateMonitor(logging_interval="epoch")]
    if config["stop_after_epochs"]:
        callbacks.append(_StopAfter(config["stop_after_epochs"]))
    stopping = config["early_stopping"]
    best: ModelCheckpoint | None = None
    if stopping["patience"]:  # stop when the monitored loss stalls; test the best epoch's weights
        best = ModelCheckpoint(
            dirpath=folder / "checkpoints", filename="best", monitor=stopping["monitor"], save_top_k=1
        )
        callbacks += [EarlyStopping(stopping["monitor"], patience=stopping["patience"]), best]
    trainer = L.Trainer(
        default_root_dir=folder,
        logger=[CSVLogger(folder, name="logs"), TensorBoardLogger(folder, name="tensorboard")],
        callbacks=callbacks,
        use_distributed_sampler=False,  # the data modules shard by rank with a per-epoch seed
        **trainer_options,
    )
    if trainer.global_rank == 0:
        print(f"paraspike: run folder {folder}", flush=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    schedule = _schedule_note(config, resume)
    os.environ[_FOLDER_VARIABLE] = str(folder)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=resume)
    finally:
        if not inherited:
            os.environ.pop(_FOLDER_VARIABLE, None)
    if resume is not None:
        schedule["resumed_at_epoch"] = timer.first_epoch
    epochs = int(trainer.current_epoch)
    monitor = FiringRateMonitor(module.model)
    tested_checkpoint = best.best_model_path if best is not None and best.best_model_path else None
    tested = trainer.test(module, datamodule=data, ckpt_path=tested_checkpoint, verbose=False)
    monitor.remove()
    torch.save(
        {k: v.detach().cpu() for k, v in module.model.named_parameters()},
        folder / f"weights_rank{trainer.global_rank}.pt",
    )
    device = next(module.model.parameters()).device
    metrics = {
        "name": config["name"],
        "task": config["task"],
        "seed": config["seed"],
        "run_folder": str(folder),
        **task.summarize(tested, module, data),
        "epochs": epochs,
        "tested": _tested_note(best),
        "epoch_seconds": timer.seconds,
        "firing_rate_binary": monitor.rates(),
        "firing_rate_overall": monitor.overall(),
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "backends": describe_backends(module.model, device),
        "lr_schedule": schedule,
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
