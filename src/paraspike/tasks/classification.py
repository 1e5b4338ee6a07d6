"""Classification (images and events): the data module and the Lightning module.

Data: a named dataset, presented as the model needs, split and batched.

Presentations (``data.presentation``): ``pixel``/``row``/``column`` (sequences ``[T, C, L]``,
:mod:`paraspike.data.sequential`), ``frames`` (event frames as loaded: N-MNIST), ``events``
(static images turned into event frames by simulated saccades), ``static`` (images as they are; the
model repeats them over T). Shuffling is seeded per epoch (``seed + epoch``) and sharded by rank,
so a resumed or multi-process run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, TensorDataset

from paraspike.data import emulate_saccade_events, load_dataset, present_sequentially
from paraspike.data.sequential import PRESENTATIONS
from paraspike.models import build_model
from paraspike.neurons import reset_net
from paraspike.tasks.common import EpochShuffleSampler, ScheduledModule, energy_on_test_batch

__all__ = ["SpikeDataModule", "SpikeClassifier", "prepare_inputs", "build", "summarize"]


def prepare_inputs(x: Tensor, data: dict[str, Any]) -> Tensor:
    """Raw dataset inputs to what the model reads, per ``data.presentation``."""
    mode = data["presentation"]
    if mode in PRESENTATIONS:
        seq = present_sequentially(x, mode, data["permute_seed"])
        return seq.repeat_interleave(data["repeat_steps"], dim=1) if data["repeat_steps"] > 1 else seq
    if mode == "events":
        return emulate_saccade_events(x, frames=data["frames"])
    if mode in ("frames", "static"):
        return x.unsqueeze(1) if mode == "static" and x.dim() == 3 else x
    raise ValueError(f"unknown data.presentation {mode!r}; choose pixel, row, column, frames, events or static")


class SpikeDataModule(L.LightningDataModule):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.data = config["data"]
        splits = load_dataset(
            self.data["dataset"],
            self.data["dir"],
            seed=config["seed"],
            resplit_test=self.data["resplit_test"],
            test_fraction=self.data["test_fraction"],
            frames=self.data["frames"],
        ).subset(self.data["train_size"], self.data["test_size"], config["seed"])
        self.classes, self.source = splits.classes, splits.source
        x_train = prepare_inputs(splits.x_train, self.data)
        x_test = prepare_inputs(splits.x_test, self.data)
        n_val = int(round(len(splits.y_train) * self.data["val_fraction"]))
        order = torch.randperm(len(splits.y_train), generator=torch.Generator().manual_seed(config["seed"] + 7))
        val, train = order[:n_val], order[n_val:]
        self.train_set = TensorDataset(x_train[train], splits.y_train[train])
        self.val_set = TensorDataset(x_train[val], splits.y_train[val]) if n_val else None
        self.test_set = TensorDataset(x_test, splits.y_test)
        self.input_shape = tuple(x_train.shape[1:])

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train_set),
            "val": 0 if self.val_set is None else len(self.val_set),
            "test": len(self.test_set),
        }

    def _loader(self, dataset: TensorDataset, sampler: Sampler[int] | None = None) -> DataLoader:
        return DataLoader(
            dataset, batch_size=self.data["batch_size"], sampler=sampler, num_workers=self.data["num_workers"]
        )

    def train_dataloader(self) -> DataLoader:
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        return self._loader(self.train_set, EpochShuffleSampler(len(self.train_set), self.config["seed"], rank, world))

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_set is None else self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)


class SpikeClassifier(ScheduledModule):
    def __init__(self, config: dict[str, Any], input_shape: tuple[int, ...], classes: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        model = config["model"]
        self.model = build_model(
            model["name"], input_shape, classes, model["neuron"], model["neuron_options"], **model["options"]
        )
        self.optim = config["optim"]
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=classes)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=classes)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=classes)

    def forward(self, x: Tensor) -> Tensor:
        reset_net(self.model)
        return self.model(x)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str, metric: torchmetrics.Metric) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.optim["label_smoothing"])
        metric(logits, y)
        self.log(f"{stage}_loss", loss, prog_bar=stage != "test", sync_dist=stage != "train")
        self.log(f"{stage}_acc", metric, prog_bar=True, on_epoch=True, on_step=False)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train", self.train_acc)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test", self.test_acc)


def build(config: dict[str, Any]) -> tuple[SpikeClassifier, SpikeDataModule]:
    """The classifier and its data for ``config``."""
    data = SpikeDataModule(config)
    return SpikeClassifier(config, data.input_shape, data.classes), data


def summarize(tested: list[dict[str, float]], module: SpikeClassifier, data: SpikeDataModule) -> dict[str, Any]:
    """Test metrics for the run's metrics file."""
    return {
        "test_acc": float(tested[0]["test_acc"]) if tested else None,
        "test_loss": float(tested[0]["test_loss"]) if tested else None,
        "data": {"source": data.source, "input_shape": list(data.input_shape), **data.sizes()},
        "energy": energy_on_test_batch(module, data),
    }
