r"""Multivariate time-series forecasting (SeqSNN protocol, spec ``tasks.md`` section 2).

Data: :mod:`paraspike.data.series` (sliding windows, chronological split, normalisation fitted on
the training rows). Model: any forecaster of :mod:`paraspike.models` (``spikformer``,
``spikformer-causal``) with any registry neuron. Loss: MSE on normalised targets. Metrics on the test
part, in normalised units, over predictions and targets ``[N, H, C]``:

.. math::
    \mathrm{RSE} = \frac{\sqrt{\sum (\hat y - y)^2}}{\sqrt{\sum (y - \bar y)^2}}, \quad
    \bar y = \text{the mean over the } N \text{ samples of each output } (h, c)

    R^2 = 1 - \frac{\sum (\hat y - y)^2}{\sum (y - \operatorname{mean}(y))^2}
    \text{ over all flattened values}, \quad \mathrm{MSE}, \mathrm{MAE} \text{ over all values.}
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from paraspike.data.series import load_series, make_windows
from paraspike.models import build_model
from paraspike.neurons import reset_net
from paraspike.tasks.common import EpochShuffleSampler, ScheduledModule, energy_on_test_batch

__all__ = ["forecast_metrics", "persistence_metrics", "ForecastData", "Forecaster", "build", "summarize"]


def forecast_metrics(prediction: Tensor, target: Tensor) -> dict[str, float]:
    """RSE, R^2, MSE and MAE of ``prediction`` against ``target`` ``[N, ...]`` (see the module doc)."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    p, y = prediction.double(), target.double()
    error = ((p - y) ** 2).sum()
    rse = error.sqrt() / ((y - y.mean(0, keepdim=True)) ** 2).sum().sqrt()
    r2 = 1 - error / ((y - y.mean()) ** 2).sum()
    return {
        "rse": float(rse),
        "r2": float(r2),
        "mse": float(((p - y) ** 2).mean()),
        "mae": float((p - y).abs().mean()),
    }


class ForecastData(L.LightningDataModule):
    """Windows of ``data.dataset`` (``etth1``, ``etth2``, ``exchange-rate``): ``data.window``,
    ``data.horizon``, ``data.split``, ``data.normalize``, ``data.train_stride``, ``data.val_stride``,
    ``data.batch_size``."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config, data = config, config["data"]
        values, self.variables, self.source = load_series(data["dataset"], data["dir"])
        self.train_set, self.val_set, self.test_set, self.normalization = make_windows(
            values,
            data["window"],
            data["horizon"],
            tuple(data["split"]),
            data["normalize"],
            data["train_stride"],
            data["val_stride"],
        )
        self.input_shape = (data["window"], values.shape[1])
        self.outputs = data["horizon"] * values.shape[1]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_set), "val": len(self.val_set), "test": len(self.test_set)}

    def _loader(self, dataset: Any, sampler: Any = None) -> DataLoader:
        data = self.config["data"]
        return DataLoader(dataset, batch_size=data["batch_size"], sampler=sampler, num_workers=data["num_workers"])

    def train_dataloader(self) -> DataLoader:
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        return self._loader(self.train_set, EpochShuffleSampler(len(self.train_set), self.config["seed"], rank, world))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)


class Forecaster(ScheduledModule):
    """MSE training of a forecaster; test metrics of :func:`forecast_metrics`; the first test window
    kept (input, target, prediction) for plots."""

    def __init__(self, config: dict[str, Any], input_shape: tuple[int, int], outputs: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        model = config["model"]
        self.model = build_model(
            model["name"], input_shape, outputs, model["neuron"], model["neuron_options"], **model["options"]
        )
        self.optim = config["optim"]
        self._test: list[tuple[Tensor, Tensor]] = []
        self.test_metrics: dict[str, float] = {}
        self.example: dict[str, list] = {}

    def forward(self, x: Tensor) -> Tensor:
        reset_net(self.model)
        return self.model(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y), prog_bar=True, sync_dist=True)

    def on_test_epoch_start(self) -> None:
        self._test = []

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        prediction = self(x)
        self.log("test_loss", F.mse_loss(prediction, y), sync_dist=True)
        if batch_idx == 0:
            self.example = {"input": x[0].tolist(), "target": y[0].tolist(), "prediction": prediction[0].tolist()}
        self._test.append((prediction.detach(), y))

    def on_test_epoch_end(self) -> None:
        prediction = torch.cat([p for p, _ in self._test])
        target = torch.cat([t for _, t in self._test])
        if self.trainer.world_size > 1:  # every process holds a shard of the test windows
            prediction = self.all_gather(prediction).flatten(0, 1)
            target = self.all_gather(target).flatten(0, 1)
        self.test_metrics = forecast_metrics(prediction, target)
        for name, value in self.test_metrics.items():
            self.log(f"test_{name}", value)


def _data_summary(data: ForecastData) -> dict[str, Any]:
    return {
        "source": data.source,
        "input_shape": list(data.input_shape),
        "variables": data.variables,
        "normalization": data.normalization,
        **data.sizes(),
    }


def build(config: dict[str, Any]) -> tuple[Forecaster, ForecastData]:
    """The forecaster and its data for ``config``."""
    data = ForecastData(config)
    return Forecaster(config, data.input_shape, data.outputs), data


def summarize(tested: list[dict[str, float]], module: Forecaster, data: ForecastData) -> dict[str, Any]:
    """Test metrics, the normalisation and one test window for the run's metrics file."""
    return {
        **{f"test_{name}": value for name, value in module.test_metrics.items()},
        "test_loss": float(tested[0]["test_loss"]) if tested else None,
        "data": _data_summary(data),
        "example": module.example,
        "energy": energy_on_test_batch(module, data),
    }


def persistence_metrics(config: dict[str, Any]) -> dict[str, Any]:
    """The persistence forecast (every future step = the window's last value) on the test part of
    ``config``'s data: the untrained reference row of a forecasting table, with the run metrics' keys."""
    data = ForecastData(config)
    windows = [data.test_set[i] for i in range(len(data.test_set))]
    x, y = torch.stack([w[0] for w in windows]), torch.stack([w[1] for w in windows])
    prediction = x[:, -1:, :].expand_as(y)
    metrics = forecast_metrics(prediction, y)
    return {
        "name": config["name"],
        "task": "forecasting",
        "seed": config["seed"],
        **{f"test_{name}": value for name, value in metrics.items()},
        "data": _data_summary(data),
        "example": {"input": x[0].tolist(), "target": y[0].tolist(), "prediction": prediction[0].tolist()},
        "epochs": 0,
        "epoch_seconds": [],
        "firing_rate_binary": {},
        "firing_rate_overall": None,
        "parameters": 0,
        "config": config,
    }
