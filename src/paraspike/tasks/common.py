r"""What every task's Lightning module shares: the optimizer and the learning-rate schedule (closed
forms of the training progress), and the seeded, rank-sharded training sampler.

Schedules.

The schedule's factor depends only on where training is (epoch or optimizer step) and on how long the
run is configured to be *now* (``trainer.max_epochs``, or the steps Lightning derives from it):

.. math:: f(p) = \begin{cases} p / W & p < W \text{ (warm-up)} \\
          \tfrac12\left(1 + \cos\left(\pi \frac{p - W}{P - W}\right)\right) & \text{cosine} \end{cases}

with ``P`` the total length and ``W`` the warm-up length (``constant``: ``f = 1`` after warm-up).

Extending a finished run (DECIDED): ``paraspike train ... trainer.max_epochs=10 --resume <last.ckpt>``
of a run planned for 3 epochs continues at epoch 3 on the schedule of a 10-epoch run, as if the run
had been planned for 10 epochs from the start (the learning rate goes back up to ``f(3)`` of the
10-epoch cosine and decays to 0 at epoch 10); the epochs already trained are not repeated. An
interrupted run resumed with an unchanged length continues exactly where it stopped. The learning
rates are set from the closed form when fitting starts, so the first resumed epoch already uses them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import Sampler

from paraspike.neurons import MaskedPSN

__all__ = ["build_optimizer", "schedule_factor", "ScheduledModule", "EpochShuffleSampler", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "constant")


def build_optimizer(params: Iterable[Any], optim: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer ``optim.name`` (``adamw``, ``adam`` or ``sgd``) with ``optim.lr``,
    ``optim.weight_decay`` (and ``optim.momentum`` for SGD). ``params`` may be parameter groups."""
    name, lr, decay = optim["name"], float(optim["lr"]), float(optim["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(optim["momentum"]), weight_decay=decay)
    raise ValueError(f"unknown optim.name {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def schedule_factor(kind: str, progress: int, total: int, warmup: int = 0) -> float:
    """The learning-rate factor at ``progress`` (epochs or steps done) of ``total`` (see the module doc)."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown optim.schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    if progress < warmup:
        return (progress + 1) / (warmup + 1)
    if kind == "constant":
        return 1.0
    span = max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress - warmup, span) / span))


class ScheduledModule(L.LightningModule):
    """A LightningModule whose optimizer and schedule come from ``config["optim"]``:
    ``name``, ``lr``, ``weight_decay``, ``momentum``, ``schedule`` (``cosine``/``constant``),
    ``interval`` (``epoch``/``step``) and ``warmup`` (epochs or steps, by interval).
    Subclasses may override :meth:`parameter_groups` (e.g. no weight decay for some parameters)."""

    optim: dict[str, Any]

    def parameter_groups(self) -> Iterable[Any]:
        return self.parameters()

    def _total(self) -> int:
        if self.optim.get("interval", "epoch") == "step":
            return max(int(self.trainer.estimated_stepping_batches), 1)
        return max(int(self.trainer.max_epochs or 1), 1)

    def _factor(self, progress: int) -> float:
        return schedule_factor(
            self.optim.get("schedule", "cosine"), progress, self._total(), int(self.optim.get("warmup", 0))
        )

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = build_optimizer(self.parameter_groups(), self.optim)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self._factor)
        interval = self.optim.get("interval", "epoch")
        if interval not in ("epoch", "step"):
            raise ValueError(f"optim.interval must be 'epoch' or 'step', got {interval!r}")
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": interval}}

    def on_train_epoch_start(self) -> None:
        """Masked PSN's progressive masking (PSN paper): ``lambda_`` rises linearly from 0 at the first
        epoch to 1 at epoch ``ceil(max_epochs / 2)`` and stays there, so the trained and tested model
        is the fully masked (k-tap) neuron, which runs on any length."""
        ramp = max(1, math.ceil(int(self.trainer.max_epochs or 1) / 2))
        for module in self.modules():
            if isinstance(module, MaskedPSN):
                module.lambda_ = min(1.0, self.current_epoch / ramp)

    def on_train_start(self) -> None:
        """Set every learning rate from the closed form at the current progress: after ``--resume`` the
        optimizer's saved rates belong to the old schedule (0 at the end of a finished cosine run)."""
        progress = self.global_step if self.optim.get("interval", "epoch") == "step" else self.current_epoch
        for config in self.trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True):
                group["lr"] = base * self._factor(progress)


class EpochShuffleSampler(Sampler[int]):
    """A permutation drawn from ``seed + epoch``, split across ``world`` ranks (padded to equal length)."""

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.size, self.seed, self.rank, self.world, self.epoch = size, seed, rank, world, 0
        self.per_rank = math.ceil(size / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        order += order[: self.per_rank * self.world - self.size]
        return iter(order[self.rank :: self.world])

    def __len__(self) -> int:
        return self.per_rank


def energy_on_test_batch(module: L.LightningModule, data: L.LightningDataModule) -> dict[str, Any] | None:
    """Energy per sample of ``module`` on its first test batch (:func:`paraspike.energy.estimate_energy`,
    45 nm fp32): synaptic, neuron and total microjoules, the binary firing rate and the batch size."""
    from paraspike.energy import estimate_energy

    batch = next(iter(data.test_dataloader()), None)
    if batch is None:
        return None
    was_training = module.training
    module.eval()
    try:
        report = estimate_energy(module, batch[0].to(module.device), batch_dim=0)
    finally:
        module.train(was_training)
    return {
        "cost_table": report.table_name,
        "samples": report.samples,
        "synaptic_uj": report.energy_uj("synapse"),
        "neuron_uj": report.energy_uj("neuron"),
        "total_uj": report.energy_uj(),
        "firing_rate": report.firing_rate(),
    }
