r"""Fitting one neuron to a target spike train, and the spike-train measures.

The fitted model is ``S = neuron(g * z + b)`` on the target's own input ``x`` ``[T, B, 1]``,
standardised with the training inputs' mean and deviation (``z = (x - m) / s``, so every model starts
from the same scale whatever the target's input scale), with a learned gain ``g`` and offset ``b`` (the
synapse a one-neuron layer would have) and the neuron's own parameters:

============== ===========================================================================
model          neuron
============== ===========================================================================
dsn            :class:`~paraspike.neurons.DSN`, one channel, causal-conv decay with ``k`` taps
sliding-psn    :class:`~paraspike.neurons.SlidingPSN` of order ``k`` (a fixed causal filter)
psn            :class:`~paraspike.neurons.PSN` over the whole window (``T x T`` weights)
lif-noreset    :class:`~paraspike.neurons.PLIF` without reset (learned leak)
plif           :class:`~paraspike.neurons.PLIF` with the target's reset (learned leak): the target's
               own family, a ceiling that shows what the optimisation reaches
============== ===========================================================================

Loss: ``mean((S - S*)^2) + mean((F(S) - F(S*))^2)`` with ``F`` the van Rossum filter
``f_t = exp(-1/tau_vr) f_{t-1} + s_t`` (it credits near misses in time, which the first term does not).
Full-batch Adam.

Measures on held-out sequences (:func:`spike_train_metrics`), for counts ``S, S* >= 0`` per step:
accuracy ``mean(S == S*)`` (with the all-silent output's accuracy ``mean(S* == 0)`` beside it),
F1 ``2 sum min(S, S*) / (sum S + sum S*)``, and the van Rossum distance
``D = sqrt(sum_t (F(S)_t - F(S*)_t)^2 / tau_vr)`` per sequence, also as a fraction of the silent
output's ``D(0, S*)``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from paraspike.neurons.dsn import DSN
from paraspike.neurons.lif import PLIF
from paraspike.neurons.psn import PSN, SlidingPSN
from paraspike.ops import linear_scan

__all__ = [
    "FIT_MODELS",
    "FitResult",
    "OneNeuron",
    "fit_neuron",
    "spike_train_metrics",
    "van_rossum_filter",
    "pool_steps",
]

FIT_MODELS = ("dsn", "sliding-psn", "psn", "lif-noreset", "plif")


def pool_steps(x: Tensor, n: int, reduce: str) -> Tensor:
    """``[n * T, B, 1]`` -> ``[T, B, 1]`` by the ``"sum"`` or ``"mean"`` of each window of ``n`` steps."""
    if x.shape[0] % n:
        raise ValueError(f"{x.shape[0]} steps do not split into windows of {n}")
    windows = x.view(x.shape[0] // n, n, *x.shape[1:])
    return windows.sum(1) if reduce == "sum" else windows.mean(1)


def van_rossum_filter(spikes: Tensor, tau: float) -> Tensor:
    """``f_t = exp(-1/tau) f_{t-1} + s_t`` over dimension 0 (differentiable)."""
    log_decay = torch.full_like(spikes, -1.0 / tau)
    return linear_scan(spikes, log_decay)[0]


class OneNeuron(nn.Module):
    """``neuron(gain * (x - mean) / std + offset)`` for ``x`` ``[T, B, 1]``: the input standardised with
    the training inputs' statistics (:meth:`standardize_with`), then a learned gain and offset."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(1.0))
        self.offset = nn.Parameter(torch.tensor(0.0))
        self.register_buffer("mean", torch.tensor(0.0))
        self.register_buffer("std", torch.tensor(1.0))
        self.neuron = neuron

    def standardize_with(self, x: Tensor) -> None:
        """Fix the standardisation to ``x``'s mean and standard deviation (the training inputs)."""
        self.mean.fill_(float(x.mean()))
        self.std.fill_(float(x.std().clamp_min(1e-6)))

    def forward(self, x: Tensor) -> Tensor:
        if hasattr(self.neuron, "reset"):
            self.neuron.reset()
        return self.neuron(self.gain * (x - self.mean) / self.std + self.offset)


def build_fit_model(model: str, *, steps: int, kernel_size: int, max_spike: int, target_reset: str) -> OneNeuron:
    """The fitted neuron ``model`` (see the module table); ``max_spike > 1`` only for the DSN."""
    if max_spike > 1 and model != "dsn":
        raise ValueError(f"integer spikes (max_spike={max_spike}) are fitted with the DSN only, not {model!r}")
    if model == "dsn":
        return OneNeuron(DSN(1, kernel_size=kernel_size, max_spike=max_spike, store_h_seq=True))
    if model == "sliding-psn":
        return OneNeuron(SlidingPSN(kernel_size))
    if model == "psn":
        return OneNeuron(PSN(steps))
    if model == "lif-noreset":
        return OneNeuron(PLIF(init_tau=2.0, reset="none"))
    if model == "plif":
        return OneNeuron(PLIF(init_tau=2.0, reset=target_reset))
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(FIT_MODELS)}")


def spike_train_metrics(pred: Tensor, target: Tensor, vr_tau: float) -> dict[str, float]:
    """The measures of the module doc for spike counts ``pred`` and ``target`` ``[T, B, 1]``."""
    pred, target = pred.detach().double(), target.detach().double()
    overlap = torch.minimum(pred, target).sum()
    total = pred.sum() + target.sum()
    distance = (van_rossum_filter(pred - target, vr_tau).pow(2).sum(0) / vr_tau).sqrt()
    silent = (van_rossum_filter(target, vr_tau).pow(2).sum(0) / vr_tau).sqrt()
    return {
        "accuracy": (pred == target).double().mean().item(),
        "silent_accuracy": (target == 0).double().mean().item(),
        "f1": (2 * overlap / total).item() if total > 0 else 1.0,
        "precision": (overlap / pred.sum()).item() if pred.sum() > 0 else float("nan"),
        "recall": (overlap / target.sum()).item() if target.sum() > 0 else float("nan"),
        "van_rossum": distance.mean().item(),
        "van_rossum_relative": (distance.mean() / silent.mean()).item() if silent.mean() > 0 else float("nan"),
        "rate": pred.mean().item(),
        "target_rate": target.mean().item(),
    }


@dataclass
class FitResult:
    """A fit's test measures, training record and (for figures) its first test sequence."""

    metrics: dict[str, float]
    final_loss: float
    seconds: float
    parameters: int
    trace: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "final_loss": self.final_loss,
            "seconds": self.seconds,
            "parameters": self.parameters,
        }


def fit_neuron(
    model: OneNeuron,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    *,
    steps: int,
    lr: float,
    vr_tau: float,
) -> FitResult:
    """Train ``model`` on ``train = (x, target)`` (full batch, ``steps`` Adam steps with a cosine
    schedule) and measure it on ``test``."""
    x, target = train
    model.standardize_with(x)
    target_filtered = van_rossum_filter(target, vr_tau)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    start, loss = time.perf_counter(), torch.tensor(math.nan)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = (out - target).pow(2).mean() + (van_rossum_filter(out, vr_tau) - target_filtered).pow(2).mean()
        loss.backward()
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        out = model(test[0])
        membrane = getattr(model.neuron, "h_seq", None)
    trace = {"spikes": out[:, 0, 0].tolist()}
    if membrane is not None:
        trace["membrane"] = membrane[:, 0, 0].tolist()
    return FitResult(
        metrics=spike_train_metrics(out, test[1], vr_tau),
        final_loss=float(loss.item()),
        seconds=seconds,
        parameters=sum(p.numel() for p in model.parameters()),
        trace=trace,
    )
