"""Spike-driven execution of integer-spike networks (spec section 4).

A DSN with ``max_spike = N`` emits counts ``S_t in {0..N}``. For hardware that only takes binary
spikes each logical step becomes ``N`` sub-steps (:func:`paraspike.ops.expand_spikes`). Because a
synaptic layer is linear, ``sum_k W s_{t,k} = W S_t``: applying the layer **without bias** to the
``T*N`` binary sub-steps, summing each group of ``N`` and adding the bias once reproduces the
integer network exactly, while only 0/1 values ever enter the synaptic layer. The neuron after it
still advances once per logical step.

Shapes: counts ``[T, B, *]`` -> :class:`SpikeExpand` -> ``[T*N, B, *]`` ->
:class:`SpikeDrivenSynapse` -> ``[T, B, *out]``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from paraspike.nn.layers import MultiStep
from paraspike.ops import collapse_spikes, expand_spikes

__all__ = ["SpikeExpand", "SpikeDrivenSynapse", "to_spike_driven"]

_SYNAPSES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# layers that only reshape: they may stand between a neuron and its synapse on binary sub-steps
_RESHAPES = (nn.Flatten, nn.Unflatten, nn.Identity)


class SpikeExpand(nn.Module):
    """Integer counts ``[T, B, *]`` to front-loaded binary sub-steps ``[T*N, B, *]``."""

    def __init__(self, max_spike: int, validate: bool = True) -> None:
        super().__init__()
        self.max_spike = max_spike
        self.validate = validate

    def forward(self, counts: Tensor) -> Tensor:
        return expand_spikes(counts, self.max_spike, validate=self.validate)

    def extra_repr(self) -> str:
        return f"max_spike={self.max_spike}"


class SpikeDrivenSynapse(nn.Module):
    """A Linear/Conv layer run on binary sub-steps: bias-free per sub-step, bias once per step.

    Args:
        layer: an ``nn.Linear`` or ``nn.Conv1d/2d/3d`` (its parameters are shared, not copied).
        max_spike: ``N``, sub-steps per logical step.

    Input ``[T*N, B, *in]`` of 0/1 values; output ``[T, B, *out]`` equal to
    ``layer`` applied to the counts.
    """

    def __init__(self, layer: nn.Module, max_spike: int) -> None:
        super().__init__()
        if not isinstance(layer, _SYNAPSES):
            names = ", ".join(t.__name__ for t in _SYNAPSES)
            raise TypeError(f"SpikeDrivenSynapse supports {names}; got {type(layer).__name__}")
        self.layer = layer
        self.max_spike = max_spike

    def _without_bias(self, x: Tensor) -> Tensor:
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, self.layer.weight)
        return self.layer._conv_forward(x, self.layer.weight, None)

    def forward(self, binary_seq: Tensor) -> Tensor:
        current = self._without_bias(binary_seq.flatten(0, 1)).unflatten(0, binary_seq.shape[:2])
        summed = collapse_spikes(current, self.max_spike)
        bias = self.layer.bias
        if bias is None:
            return summed
        if isinstance(self.layer, nn.Linear):
            return summed + bias
        return summed + bias.view(-1, *([1] * (summed.dim() - 3)))

    def extra_repr(self) -> str:
        return f"max_spike={self.max_spike}"


def _synapse_layer(module: nn.Module) -> nn.Module | None:
    """The Linear/Conv layer that ``module`` applies to every step of ``[T, B, ...]``, if it is one:
    ``MultiStep(layer)``, SpikingJelly's ``layer.Linear``/``layer.ConvNd`` in step mode ``'m'``, its
    ``SeqToANNContainer(layer)``, or a bare ``nn.Linear`` (which acts on the last dimension)."""
    if isinstance(module, MultiStep):
        return module.layer if isinstance(module.layer, _SYNAPSES) else None
    if isinstance(module, _SYNAPSES) and getattr(module, "step_mode", None) == "m":
        return module
    if type(module) is nn.Linear:
        return module
    children = list(module.children())
    if type(module).__name__ == "SeqToANNContainer" and len(children) == 1 and isinstance(children[0], _SYNAPSES):
        return children[0]
    return None


def _is_reshape(module: nn.Module) -> bool:
    """Whether ``module`` only reshapes each step (it may stand between a neuron and its synapse)."""
    if isinstance(module, MultiStep):
        return isinstance(module.layer, _RESHAPES)
    if isinstance(module, nn.Identity):
        return True
    return isinstance(module, _RESHAPES) and getattr(module, "step_mode", None) == "m"


def to_spike_driven(model: nn.Sequential) -> nn.Sequential:
    """A spike-driven twin of ``model`` sharing its parameters.

    After every neuron with ``max_spike >= 2`` that is followed by a per-step synapse (see
    :func:`_synapse_layer`: ``MultiStep(Linear/Conv)``, SpikingJelly's multi-step ``layer.Linear``
    / ``layer.Conv2d`` or ``SeqToANNContainer``, a bare ``nn.Linear``), possibly behind layers that
    only reshape (Flatten/Unflatten/Identity), ``SpikeExpand(N)`` is inserted after the neuron and the
    synapse becomes ``SpikeDrivenSynapse(layer, N)``. The twin computes the same outputs as ``model``
    (multi-step mode) while every synaptic layer after such a neuron receives only 0/1 values.

    Raises:
        TypeError: ``model`` is not an ``nn.Sequential``.
        ValueError: an integer-spike neuron feeds a layer that is not such a synapse (the message
            names both); a network's last neuron may output counts.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"to_spike_driven expects an nn.Sequential, got {type(model).__name__}")
    modules = list(model)
    out: list[nn.Module] = []
    i = 0
    while i < len(modules):
        out.append(modules[i])
        max_spike = int(getattr(modules[i], "max_spike", 1))
        if max_spike < 2:
            i += 1
            continue
        j = i + 1
        while j < len(modules) and _is_reshape(modules[j]):
            j += 1
        if j == len(modules):  # the model's output is this neuron's counts
            out.extend(modules[i + 1 :])
            break
        synapse = _synapse_layer(modules[j])
        if synapse is None:
            raise ValueError(
                f"to_spike_driven: the integer-spike neuron at position {i} ({type(modules[i]).__name__}, "
                f"max_spike={max_spike}) feeds position {j} ({type(modules[j]).__name__}), which is not a "
                "per-step Linear/Conv synapse; its input would be spike counts, not binary spikes. Put the "
                "synapse right after the neuron (only Flatten/Unflatten/Identity may stand between) or use "
                "max_spike=1 for this neuron."
            )
        out.append(SpikeExpand(max_spike))
        out.extend(modules[i + 1 : j])
        out.append(SpikeDrivenSynapse(synapse, max_spike))
        i = j + 1
    return nn.Sequential(*out)
