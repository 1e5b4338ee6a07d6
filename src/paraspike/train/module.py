"""The Lightning module: any model from :mod:`paraspike.models` with any neuron, cross-entropy,
the optimizer and schedule of :mod:`paraspike.train.optim`, accuracy from torchmetrics, neuron state
reset per batch, masked PSN's progressive masking schedule."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
import torchmetrics
from torch import Tensor

from paraspike.models import build_model
from paraspike.neurons import MaskedPSN, reset_net
from paraspike.train.optim import ScheduledModule

__all__ = ["SpikeClassifier"]


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

    def on_train_epoch_start(self) -> None:
        """Masked PSN's progressive masking (PSN paper): ``lambda_`` rises linearly from 0 at the first
        epoch to 1 at epoch ``ceil(max_epochs / 2)`` and stays there, so the trained and tested model
        is the fully masked (k-tap) neuron."""
        ramp = max(1, math.ceil(int(self.trainer.max_epochs or 1) / 2))
        for module in self.model.modules():
            if isinstance(module, MaskedPSN):
                module.lambda_ = min(1.0, self.current_epoch / ramp)

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
