"""Spiking neurons (nn.Modules) built on paraspike.ops: the DSN and its baselines."""

from paraspike.neurons.activation import Activation
from paraspike.neurons.base import MemoryModule
from paraspike.neurons.decay import DECAY_GENERATORS, build_decay_generator
from paraspike.neurons.dsn import DSN, DSNState
from paraspike.neurons.lif import ILIF, LIF, PLIF
from paraspike.neurons.psn import PSN, MaskedPSN, SlidingPSN
from paraspike.neurons.registry import (
    accepts_threshold,
    build_neuron,
    describe_backends,
    is_spiking,
    neuron_names,
    register_neuron,
)
from paraspike.neurons.utils import detach_net, reset_net

__all__ = [
    "MemoryModule",
    "Activation",
    "accepts_threshold",
    "is_spiking",
    "DSN",
    "DSNState",
    "LIF",
    "PLIF",
    "ILIF",
    "PSN",
    "MaskedPSN",
    "SlidingPSN",
    "build_neuron",
    "describe_backends",
    "neuron_names",
    "register_neuron",
    "DECAY_GENERATORS",
    "build_decay_generator",
    "reset_net",
    "detach_net",
]
