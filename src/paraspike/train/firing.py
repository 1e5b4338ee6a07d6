"""Per-layer firing rates, counted as expanded binary spikes.

An integer-spike neuron firing ``S`` at a step emits ``S`` binary spikes over its ``N`` sub-steps
(:func:`paraspike.ops.expand_spikes`), so its binary firing rate is ``sum(S) / (count * N)``;
a binary neuron has ``N = 1``. This is the rate a spike-driven chip would see.
"""

from __future__ import annotations

from torch import Tensor, nn

from paraspike.neurons import DSN, LIF, PSN, MaskedPSN, SlidingPSN

__all__ = ["FiringRateMonitor"]

_NEURONS = (DSN, LIF, PSN, MaskedPSN, SlidingPSN)


class FiringRateMonitor:
    """Forward hooks on every neuron of ``model``; ``rates()`` -> {layer name: binary firing rate}."""

    def __init__(self, model: nn.Module) -> None:
        self.totals: dict[str, list[float]] = {}
        self.handles = []
        for name, module in model.named_modules():
            if isinstance(module, _NEURONS):
                sub_steps = int(getattr(module, "max_spike", 1))
                self.handles.append(module.register_forward_hook(self._hook(name, sub_steps)))

    def _hook(self, name: str, sub_steps: int):  # noqa: ANN202
        def record(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            spikes, slots = self.totals.setdefault(name, [0.0, 0.0])
            self.totals[name] = [spikes + float(output.detach().sum()), slots + output.numel() * sub_steps]

        return record

    def reset(self) -> None:
        self.totals = {}

    def rates(self) -> dict[str, float]:
        return {name: spikes / slots for name, (spikes, slots) in self.totals.items() if slots}

    def overall(self) -> float | None:
        spikes = sum(s for s, _ in self.totals.values())
        slots = sum(n for _, n in self.totals.values())
        return spikes / slots if slots else None

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
