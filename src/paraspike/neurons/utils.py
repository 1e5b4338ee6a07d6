"""Helpers that act on every stateful neuron of a network, whichever library it comes from.

They recognise paraspike's neurons, SpikingJelly's memory modules (anything with a ``_memories``
dict and ``reset()``/``detach()``: ``spikingjelly.activation_based.base.MemoryModule`` and its
subclasses, found without importing SpikingJelly) and, for :func:`reset_net`, snnTorch neurons
(``reset_mem()``), so a model that mixes them is handled in one call.
"""

from __future__ import annotations

from torch import nn

from paraspike.neurons.base import MemoryModule

__all__ = ["reset_net", "detach_net", "is_stateful_neuron"]


def _is_spikingjelly_memory(module: nn.Module) -> bool:
    return isinstance(getattr(module, "_memories", None), dict) and callable(getattr(module, "reset", None))


def _is_snntorch_neuron(module: nn.Module) -> bool:
    return callable(getattr(module, "reset_mem", None)) and hasattr(module, "init_hidden")


def is_stateful_neuron(module: nn.Module) -> bool:
    """Whether ``module`` keeps per-sequence state that :func:`reset_net` clears."""
    return isinstance(module, MemoryModule) or _is_spikingjelly_memory(module) or _is_snntorch_neuron(module)


def reset_net(model: nn.Module) -> None:
    """Start new sequences: reset every paraspike neuron, SpikingJelly memory module and snnTorch
    neuron in ``model``."""
    for module in model.modules():
        if isinstance(module, MemoryModule) or _is_spikingjelly_memory(module):
            module.reset()
        elif _is_snntorch_neuron(module):
            module.reset_mem()


def detach_net(model: nn.Module) -> None:
    """Detach the state of every paraspike neuron and SpikingJelly memory module in ``model`` from the
    graph (truncated backpropagation through time across stream chunks)."""
    for module in model.modules():
        if isinstance(module, MemoryModule) or (
            _is_spikingjelly_memory(module) and callable(getattr(module, "detach", None))
        ):
            module.detach()
