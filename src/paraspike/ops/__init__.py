"""Pure tensor functions (no nn.Module): the linear scan, firing functions, spike expansion."""

from paraspike.ops.expansion import collapse_spikes, expand_spikes
from paraspike.ops.firing import (
    SURROGATES,
    binary_fire,
    integer_fire,
    spike_fire,
)
from paraspike.ops.scan import (
    available_scan_backends,
    linear_scan,
    register_scan_backend,
    resolve_scan_backend,
)

__all__ = [
    "linear_scan",
    "register_scan_backend",
    "available_scan_backends",
    "resolve_scan_backend",
    "integer_fire",
    "binary_fire",
    "spike_fire",
    "SURROGATES",
    "expand_spikes",
    "collapse_spikes",
]
