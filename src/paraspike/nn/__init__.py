"""Layers around neurons: time folding and spike-driven (binary) execution."""

from paraspike.nn.layers import MultiStep, set_step_mode
from paraspike.nn.spike_driven import SpikeDrivenSynapse, SpikeExpand, to_spike_driven
from paraspike.nn.spike_driven_run import SpikeDrivenReport, run_spike_driven

__all__ = [
    "MultiStep",
    "set_step_mode",
    "SpikeExpand",
    "SpikeDrivenSynapse",
    "to_spike_driven",
    "run_spike_driven",
    "SpikeDrivenReport",
]
