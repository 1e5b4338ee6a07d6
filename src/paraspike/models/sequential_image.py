"""The sequential-image network of the PSN and DSN papers' Sequential CIFAR experiments.

Per step ``x_t`` ``[B, C_in, L]`` (e.g. one image column: 3 channels x 32 rows)::

    ([Conv1d(k=3, pad=1, no bias) -> BatchNorm1d -> neuron] x 3 -> AvgPool1d(2)) x 2   (128 channels)
    Flatten -> Linear(128 * L/4, 256) -> neuron -> Linear(256, classes); mean over time

Any sequential presentation (:mod:`paraspike.data.sequential`) fits: with ``L = 1`` (pixel by
pixel) the pools are skipped. The convs act within a step (time folded into the batch); only the
neurons carry information across steps.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from paraspike.models._blocks import conv_bn_neuron, neuron
from paraspike.nn import MultiStep

__all__ = ["SequentialImageNet"]


class SequentialImageNet(nn.Module):
    """Logits ``[B, classes]`` for sequences ``[B, T, C_in, L]`` (see the module doc)."""

    def __init__(
        self,
        in_channels: int,
        length: int,
        steps: int,
        classes: int,
        neuron_name: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        channels: int = 128,
        hidden: int = 256,
        convs_per_stage: int = 3,
        stages: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width, size = in_channels, length
        for _ in range(stages):
            for _ in range(convs_per_stage):
                conv = nn.Conv1d(width, channels, 3, padding=1, bias=False)
                layers += conv_bn_neuron(conv, nn.BatchNorm1d(channels), neuron_name, channels, steps, neuron_options)
                width = channels
            if size >= 2:
                layers.append(MultiStep(nn.AvgPool1d(2)))
                size //= 2
        layers += [
            MultiStep(nn.Flatten()),
            MultiStep(nn.Linear(channels * size, hidden)),
            neuron(neuron_name, hidden, steps, neuron_options),
            MultiStep(nn.Linear(hidden, classes)),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"SequentialImageNet expects [B, T, C, L], got shape {tuple(x.shape)}")
        return self.body(x.transpose(0, 1)).mean(0)
