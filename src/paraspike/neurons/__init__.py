"""Spiking neurons (nn.Modules) built on paraspike.ops."""

from paraspike.neurons.base import MemoryModule
from paraspike.neurons.decay import DECAY_GENERATORS, build_decay_generator
from paraspike.neurons.dsn import DSN, DSNState
from paraspike.neurons.utils import detach_net, reset_net

__all__ = ["MemoryModule", "DSN", "DSNState", "DECAY_GENERATORS", "build_decay_generator", "reset_net", "detach_net"]
