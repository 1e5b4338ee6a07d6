r"""Inputs and target spike trains of the approximation study.

Inputs are currents ``x`` ``[T, B, 1]`` (time first, one channel):

- ``gaussian``: white noise around a per-sequence level, ``x_t = mu_b + sigma * eps_t`` with
  ``mu_b ~ U(mean_low, mean_high)``, ``eps_t ~ N(0, 1)``.
- ``structured``: a per-sequence level ``U(0.6, 1.2)`` plus three sinusoids (periods log-uniform in
  8..128 steps, amplitudes ``U(0, 0.4)``), a step signal (a new level ``U(-0.5, 0.5)`` after
  exponentially distributed holds, mean 64 steps), bursts (each step starts one with probability 1/50:
  3-8 steps at ``U(1, 2)`` on top) and a little noise (``0.05 * eps_t``).

Targets are :class:`~paraspike.neurons.LIF` neurons (SpikingJelly's ``LIFNode`` maths, decay_input,
``V_th = 1``, ``v_reset = 0``) with a hard or soft reset, run step by step; the membrane recorded is
the charged potential ``h_t`` before the reset (what is compared with ``V_th``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from paraspike.neurons.lif import LIF

__all__ = ["INPUT_KINDS", "LifTarget", "make_inputs", "run_target"]

INPUT_KINDS = ("gaussian", "structured")


@dataclass(frozen=True)
class LifTarget:
    """A target neuron: an LIF with ``reset`` ("hard" or "soft") and membrane time constant ``tau``."""

    reset: str
    tau: float

    @property
    def name(self) -> str:
        return f"{self.reset}-tau{self.tau:g}"


def _gaussian(
    steps: int, batch: int, generator: torch.Generator, mean_low: float, mean_high: float, sigma: float
) -> Tensor:
    level = mean_low + (mean_high - mean_low) * torch.rand(1, batch, 1, generator=generator)
    return level + sigma * torch.randn(steps, batch, 1, generator=generator)


def _structured(steps: int, batch: int, generator: torch.Generator) -> Tensor:
    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    t = torch.arange(steps, dtype=torch.float32).view(steps, 1, 1)
    x = uniform(0.6, 1.2, 1, batch, 1).expand(steps, batch, 1).clone()
    periods = torch.exp(uniform(math.log(8.0), math.log(128.0), 3, batch))
    amplitudes, phases = uniform(0.0, 0.4, 3, batch), uniform(0.0, 2 * math.pi, 3, batch)
    for period, amplitude, phase in zip(periods, amplitudes, phases, strict=True):
        x += (amplitude * torch.sin(2 * math.pi * t[..., 0] / period + phase)).unsqueeze(-1)
    for b in range(batch):
        start = 0
        while start < steps:
            hold = int(torch.empty(1).exponential_(1 / 64.0, generator=generator).item()) + 1
            x[start : start + hold, b] += uniform(-0.5, 0.5, 1).item()
            start += hold
        starts = torch.nonzero(torch.rand(steps, generator=generator) < 1 / 50).flatten().tolist()
        for s in starts:
            length = int(torch.randint(3, 9, (1,), generator=generator).item())
            x[s : s + length, b] += uniform(1.0, 2.0, 1).item()
    return x + 0.05 * torch.randn(steps, batch, 1, generator=generator)


def make_inputs(
    kind: str,
    steps: int,
    batch: int,
    seed: int,
    *,
    mean_low: float = 0.6,
    mean_high: float = 1.6,
    sigma: float = 1.0,
) -> Tensor:
    """Input currents ``[steps, batch, 1]`` of ``kind`` (see the module doc), reproducible from ``seed``."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")
    generator = torch.Generator().manual_seed(seed)
    if kind == "gaussian":
        return _gaussian(steps, batch, generator, mean_low, mean_high, sigma)
    return _structured(steps, batch, generator)


@torch.no_grad()
def run_target(target: LifTarget, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(spikes, membrane)``, both ``[T, B, 1]``: the target LIF driven by ``x`` from rest; the
    membrane is the charged potential before each step's reset."""
    lif = LIF(tau=target.tau, reset=target.reset, step_mode="s")
    v = torch.zeros_like(x[0])
    spikes, membrane = [], []
    for x_t in x.unbind(0):
        membrane.append(lif._charge(x_t, v))
        spike, v = lif._step(x_t, v)
        spikes.append(spike)
    return torch.stack(spikes), torch.stack(membrane)


def calibrate_scale(target: LifTarget, x: Tensor, rate: float, iterations: int = 30) -> float:
    """The input scale ``c`` at which ``target`` driven by ``c * x`` fires at ``rate`` (spikes per
    step, bisection on ``log c`` over ``[1e-2, 1e2]``; the firing rate grows with the scale for inputs
    that are mostly positive, as both input kinds are)."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"the calibration rate must be in (0, 1), got {rate}")
    low, high = math.log(1e-2), math.log(1e2)
    for _ in range(iterations):
        middle = (low + high) / 2
        fired = run_target(target, math.exp(middle) * x)[0].mean().item()
        low, high = (middle, high) if fired < rate else (low, middle)
    return math.exp((low + high) / 2)
