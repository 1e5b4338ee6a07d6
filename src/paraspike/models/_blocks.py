"""Pieces shared by the models: a neuron by name, conv + BN + neuron stages."""

from __future__ import annotations

from typing import Any

from torch import nn

from paraspike.neurons import build_neuron
from paraspike.nn import MultiStep

__all__ = ["neuron", "conv_bn_neuron"]


def neuron(name: str, channels: int, steps: int, options: dict[str, Any] | None) -> nn.Module:
    """A multi-step neuron from the registry for ``channels`` channels and ``steps`` steps."""
    return build_neuron(name, channels=channels, steps=steps, **(options or {}))


def conv_bn_neuron(
    conv: nn.Module, norm: nn.Module, name: str, channels: int, steps: int, options: dict[str, Any] | None
) -> list[nn.Module]:
    """``[MultiStep(conv), MultiStep(norm), neuron]``: one spiking stage on ``[T, B, C, *]``."""
    return [MultiStep(conv), MultiStep(norm), neuron(name, channels, steps, options)]
