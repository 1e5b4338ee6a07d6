"""paraspike: spiking neurons that train in parallel over time and run serially at inference.

The core is the Dynamic Decay Spiking Neuron (:class:`paraspike.DSN`, arXiv:2602.01133).
Layers: :mod:`paraspike.ops` (tensor functions), :mod:`paraspike.neurons` (modules),
:mod:`paraspike.nn` (layers around neurons).
"""

from paraspike.neurons import DSN, DSNState, MemoryModule, build_neuron, detach_net, neuron_names, reset_net
from paraspike.nn import MultiStep, SpikeDrivenSynapse, SpikeExpand, set_step_mode, to_spike_driven
from paraspike.ops import collapse_spikes, expand_spikes, linear_scan

__version__ = "0.1.0"

__all__ = [
    "DSN",
    "DSNState",
    "MemoryModule",
    "build_neuron",
    "neuron_names",
    "reset_net",
    "detach_net",
    "MultiStep",
    "set_step_mode",
    "SpikeExpand",
    "SpikeDrivenSynapse",
    "to_spike_driven",
    "linear_scan",
    "expand_spikes",
    "collapse_spikes",
    "__version__",
]
