"""A small SEW-ResNet (spike-element-wise residual, ADD connection; Fang et al. 2021) for static
images repeated over ``T`` steps (direct encoding).

stem: Conv3x3 -> BN -> neuron; then per stage a block ``out = SN(BN(Conv(SN(BN(Conv(s))))) + s``
(a 1x1-conv downsampling path when the width or stride changes); global average pool -> Linear;
mean of the logits over time.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from paraspike.models._blocks import conv_bn_neuron
from paraspike.nn import MultiStep

__all__ = ["SEWResNet"]


class _SEWBlock(nn.Module):
    def __init__(self, width: int, out: int, stride: int, name: str, steps: int, options: dict | None) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn_neuron(
                nn.Conv2d(width, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), name, out, steps, options
            ),
            *conv_bn_neuron(nn.Conv2d(out, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out), name, out, steps, options),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or width != out:
            self.shortcut = nn.Sequential(
                *conv_bn_neuron(
                    nn.Conv2d(width, out, 1, stride, bias=False), nn.BatchNorm2d(out), name, out, steps, options
                )
            )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


class SEWResNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        steps: int,
        classes: int,
        neuron_name: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        widths: tuple[int, ...] = (32, 64, 128),
    ) -> None:
        super().__init__()
        self.steps = steps
        stem = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        layers = conv_bn_neuron(stem, nn.BatchNorm2d(widths[0]), neuron_name, widths[0], steps, neuron_options)
        width = widths[0]
        for i, out in enumerate(widths):
            layers.append(_SEWBlock(width, out, 1 if i == 0 else 2, neuron_name, steps, neuron_options))
            width = out
        layers += [MultiStep(nn.AdaptiveAvgPool2d(1)), MultiStep(nn.Flatten()), MultiStep(nn.Linear(width, classes))]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, classes]`` for images ``[B, C, H, W]`` (repeated over T) or ``[B, T, C, H, W]``."""
        if x.dim() == 4:
            x = x.unsqueeze(1).expand(-1, self.steps, *x.shape[1:])
        if x.dim() != 5:
            raise ValueError(f"SEWResNet expects [B, C, H, W] or [B, T, C, H, W], got shape {tuple(x.shape)}")
        return self.body(x.transpose(0, 1)).mean(0)
