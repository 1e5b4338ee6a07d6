"""Stateless stand-ins for a neuron, so a non-spiking reference network is the same network with
another name in its config: ``identity`` (the neuron removed) and ``gelu`` / ``relu`` (an ANN
activation in its place). They take either layout (``[T, B, C, *]`` or ``[B, C, *]``) and have a
``step_mode`` and a ``reset()`` like the neurons."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from paraspike.neurons.base import StepModeMixin

__all__ = ["Activation", "ACTIVATIONS"]

ACTIVATIONS = {"identity": lambda x: x, "gelu": F.gelu, "relu": F.relu}


class Activation(StepModeMixin, nn.Module):
    """``fn(x)`` elementwise, in both step modes; no state."""

    def __init__(self, kind: str = "identity", step_mode: str = "m") -> None:
        super().__init__()
        if kind not in ACTIVATIONS:
            raise ValueError(f"unknown activation {kind!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.kind = kind
        self.step_mode = step_mode

    def reset(self) -> None:
        """Nothing to forget."""

    def forward(self, x: Tensor) -> Tensor:
        return ACTIVATIONS[self.kind](x)

    def extra_repr(self) -> str:
        return f"{self.kind}, step_mode={self.step_mode!r}"
