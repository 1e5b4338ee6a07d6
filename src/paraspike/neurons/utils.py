"""Helpers that act on every neuron of a network."""

from __future__ import annotations

from torch import nn

from paraspike.neurons.base import MemoryModule

__all__ = ["reset_net", "detach_net"]


def reset_net(model: nn.Module) -> None:
    """Call ``reset()`` on every paraspike neuron in ``model`` (start new sequences)."""
    for module in model.modules():
        if isinstance(module, MemoryModule):
            module.reset()


def detach_net(model: nn.Module) -> None:
    """Detach every neuron's state from the graph (truncated BPTT across stream chunks)."""
    for module in model.modules():
        if isinstance(module, MemoryModule):
            module.detach()
