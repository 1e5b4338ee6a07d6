"""Build any neuron by name, so that models and experiment configs can swap neurons.

>>> from paraspike.neurons import build_neuron
>>> neuron = build_neuron("dsn", channels=64, max_spike=4)
>>> baseline = build_neuron("psn", channels=64, steps=32)

Every builder takes ``channels`` (the ``C`` of ``[T, B, C, *]``) and ``steps`` (``T``) and uses what
it needs: the DSN needs ``channels``, PSN and masked PSN need ``steps``; other keyword options go to
the neuron's constructor.

=================  ==============================================================================
name               neuron
=================  ==============================================================================
``dsn``            :class:`~paraspike.neurons.DSN` (integer spikes, ``max_spike`` 4 by default)
``dsn-binary``     :class:`~paraspike.neurons.DSN` with ``max_spike=1`` (binary spikes)
``lif``            :class:`~paraspike.neurons.LIF` with hard reset
``lif-soft``       :class:`~paraspike.neurons.LIF` with soft reset
``lif-noreset``    :class:`~paraspike.neurons.LIF` without reset (runs as a parallel scan)
``plif``           :class:`~paraspike.neurons.PLIF` (hard reset)
``ilif``           :class:`~paraspike.neurons.ILIF` (integer spikes, soft reset)
``psn``            :class:`~paraspike.neurons.PSN` (needs ``steps``)
``masked-psn``     :class:`~paraspike.neurons.MaskedPSN` (needs ``steps``; order ``k`` default 4)
``sliding-psn``    :class:`~paraspike.neurons.SlidingPSN` (order ``k`` default 4)
``identity``       no neuron (:class:`~paraspike.neurons.Activation`): the non-spiking reference
``gelu``, ``relu`` an ANN activation in the neuron's place
=================  ==============================================================================

:func:`accepts_threshold` says which neurons take ``v_threshold`` (models that set a layer's
threshold, as SeqSNN's attention neuron at half the usual one, pass it only to those) and
:func:`is_spiking` which ones emit spikes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from paraspike.neurons.activation import ACTIVATIONS, Activation
from paraspike.neurons.base import MemoryModule
from paraspike.neurons.dsn import DSN
from paraspike.neurons.lif import ILIF, LIF, PLIF
from paraspike.neurons.psn import PSN, MaskedPSN, SlidingPSN

__all__ = [
    "build_neuron",
    "neuron_names",
    "register_neuron",
    "describe_backends",
    "accepts_threshold",
    "is_spiking",
]

NeuronBuilder = Callable[..., nn.Module]
_BUILDERS: dict[str, NeuronBuilder] = {}


def register_neuron(name: str, builder: NeuronBuilder) -> None:
    """Add (or replace) a neuron: ``builder(channels, steps, **options) -> nn.Module``."""
    _BUILDERS[name] = builder


def neuron_names() -> list[str]:
    """The names :func:`build_neuron` accepts."""
    return sorted(_BUILDERS)


def _require(name: str, what: str, value: int | None) -> int:
    if value is None:
        raise ValueError(f"neuron {name!r} needs {what}= (build_neuron({name!r}, {what}=...))")
    return value


def build_neuron(name: str, channels: int | None = None, steps: int | None = None, **options: Any) -> nn.Module:
    """A new neuron module by name (see the table in this module's docstring).

    Args:
        name: one of :func:`neuron_names`.
        channels: ``C`` in ``[T, B, C, *]`` (needed by the DSN).
        steps: ``T`` (needed by PSN and masked PSN).
        **options: passed to the neuron's constructor.

    Raises:
        ValueError: unknown name (the message lists the known ones) or a missing ``channels``/``steps``.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown neuron {name!r}; choose one of: {', '.join(neuron_names())}")
    try:
        return _BUILDERS[name](channels, steps, **options)
    except TypeError as error:  # an option the neuron does not take
        raise TypeError(f"neuron {name!r}: {error}") from error


register_neuron("dsn", lambda c, t, **o: DSN(_require("dsn", "channels", c), **o))
register_neuron("dsn-binary", lambda c, t, **o: DSN(_require("dsn-binary", "channels", c), max_spike=1, **o))
register_neuron("lif", lambda c, t, **o: LIF(reset="hard", **o))
register_neuron("lif-soft", lambda c, t, **o: LIF(reset="soft", **o))
register_neuron("lif-noreset", lambda c, t, **o: LIF(reset="none", **o))
register_neuron("plif", lambda c, t, **o: PLIF(**o))
register_neuron("ilif", lambda c, t, **o: ILIF(**o))
register_neuron("psn", lambda c, t, **o: PSN(_require("psn", "steps", t), **o))
register_neuron("masked-psn", lambda c, t, k=4, **o: MaskedPSN(k, _require("masked-psn", "steps", t), **o))
register_neuron("sliding-psn", lambda c, t, k=4, **o: SlidingPSN(k, **o))
for _kind in ACTIVATIONS:
    register_neuron(_kind, lambda c, t, _kind=_kind, **o: Activation(_kind, **o))

_WITH_THRESHOLD = {"dsn", "dsn-binary", "lif", "lif-soft", "lif-noreset", "plif", "ilif"}


def accepts_threshold(name: str) -> bool:
    """Whether neuron ``name`` takes a ``v_threshold`` option."""
    return name in _WITH_THRESHOLD


def is_spiking(name: str) -> bool:
    """Whether neuron ``name`` emits spikes (not one of the non-spiking stand-ins)."""
    return name not in ACTIVATIONS


def describe_backends(model: nn.Module, device: torch.device | str = "cpu") -> dict[str, str]:
    """What computes each neuron layer of ``model`` on ``device``: ``"fused cpu kernel"``,
    ``"fused triton kernel"``, ``"<backend> scan"`` (a scan backend around PyTorch ops) or
    ``"pytorch ops"``. Results of different code paths differ by float rounding, so metrics record it."""
    described: dict[str, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, DSN):
            kernel = module.fused_kernel(device)
            described[name] = f"fused {kernel} kernel" if kernel else f"{module.scan_backend(device)} scan"
        elif isinstance(module, LIF) and module.reset_mode == "none":
            from paraspike.ops import resolve_scan_backend

            described[name] = f"{resolve_scan_backend(module.backend, device)} scan"
        elif isinstance(module, (MemoryModule, PSN)):
            described[name] = "pytorch ops"
    return described
