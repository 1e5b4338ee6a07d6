"""A VGG-style spiking CNN for event frames ``[B, T, 2, H, W]`` (N-MNIST, emulated events).

``[Conv3x3 (no bias) -> BN -> neuron] x 2 -> AvgPool2d(2)`` per stage (widths ``widths``), then
Flatten -> Linear(classes); mean of the logits over time. The DSN paper's CIFAR10-DVS model is
the 8-conv version (``widths=(64, 128, 256, 256)``, 48 x 48 input); the default here is small.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from paraspike.models._blocks import conv_bn_neuron
from paraspike.nn import MultiStep

__all__ = ["SpikingVGG"]


class SpikingVGG(nn.Module):
    def __init__(
        self,
        in_channels: int,
        size: int,
        steps: int,
        classes: int,
        neuron_name: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        widths: tuple[int, ...] = (32, 64),
        convs_per_stage: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for out in widths:
            for _ in range(convs_per_stage):
                conv = nn.Conv2d(width, out, 3, padding=1, bias=False)
                layers += conv_bn_neuron(conv, nn.BatchNorm2d(out), neuron_name, out, steps, neuron_options)
                width = out
            layers.append(MultiStep(nn.AvgPool2d(2)))
            size //= 2
        layers += [MultiStep(nn.Flatten()), MultiStep(nn.Linear(width * size * size, classes))]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, classes]`` for frames ``[B, T, C, H, W]``."""
        if x.dim() != 5:
            raise ValueError(f"SpikingVGG expects [B, T, C, H, W], got shape {tuple(x.shape)}")
        return self.body(x.transpose(0, 1)).mean(0)
