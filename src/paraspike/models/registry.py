"""Models by name, for configs: ``build_model(name, input_shape=..., classes=..., neuron=..., **options)``.

``input_shape`` is one sample's shape as the data module yields it: ``[T, C, L]`` for sequences,
``[T, C, H, W]`` for event frames, ``[C, H, W]`` for static images (then ``steps`` is required),
``[window, variables]`` for forecasters, whose ``classes`` is the number of outputs
``horizon * variables``, ``[context]`` for language models, whose ``classes`` is the vocabulary,
``[observations]`` for actors, whose ``classes`` is the number of actions.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from paraspike.models.linear_forecast import LinearForecaster
from paraspike.models.popsan import MLPActor, SpikingActor
from paraspike.models.sequential_image import SequentialImageNet
from paraspike.models.sew_resnet import SEWResNet
from paraspike.models.spikformer import CausalSpikformer, Spikformer
from paraspike.models.spiking_ssm import SpikingSSMLM
from paraspike.models.vgg import SpikingVGG

__all__ = ["build_model", "model_names"]


def _sequential(shape: tuple[int, ...], classes: int, neuron: str, options: dict, **kw: Any) -> nn.Module:
    steps, channels, length = shape
    return SequentialImageNet(channels, length, steps, classes, neuron, options, **kw)


def _vgg(shape: tuple[int, ...], classes: int, neuron: str, options: dict, **kw: Any) -> nn.Module:
    steps, channels, height, _ = shape
    return SpikingVGG(channels, height, steps, classes, neuron, options, **kw)


def _sew(shape: tuple[int, ...], classes: int, neuron: str, options: dict, steps: int = 4, **kw: Any) -> nn.Module:
    return SEWResNet(shape[-3], steps, classes, neuron, options, **kw)


def _forecaster(kind: type[nn.Module]) -> Any:
    def build(shape: tuple[int, ...], outputs: int, neuron: str, options: dict, **kw: Any) -> nn.Module:
        window, variables = shape
        if outputs % variables:
            raise ValueError(f"a forecaster's outputs ({outputs}) must be horizon x variables ({variables})")
        return kind(variables, window, outputs // variables, neuron, options, **kw)

    return build


def _language(shape: tuple[int, ...], vocab: int, neuron: str, options: dict, **kw: Any) -> nn.Module:
    (context,) = shape
    return SpikingSSMLM(vocab, neuron=neuron, neuron_options=options, steps=context, **kw)


def _spiking_actor(shape: tuple[int, ...], actions: int, neuron: str, options: dict, **kw: Any) -> nn.Module:
    if "hidden" in kw:
        kw["hidden"] = tuple(kw["hidden"])
    return SpikingActor(shape[0], actions, neuron, options, **kw)


_SPIKING_ACTOR_ONLY = ("steps", "population", "output_population", "state")


def _mlp_actor(shape: tuple[int, ...], actions: int, neuron: str, options: dict, **kw: Any) -> nn.Module:
    for key in _SPIKING_ACTOR_ONLY:  # a config's spiking-actor options, meaningless for the ANN actor
        kw.pop(key, None)
    return MLPActor(shape[0], actions, tuple(kw.pop("hidden", (256, 256))), **kw)


_MODELS = {
    "sequential-image": (_sequential, 3),
    "vgg": (_vgg, 4),
    "sew-resnet": (_sew, None),
    "spikformer": (_forecaster(Spikformer), 2),
    "spikformer-causal": (_forecaster(CausalSpikformer), 2),
    "linear-forecast": (_forecaster(LinearForecaster), 2),
    "spiking-ssm-lm": (_language, 1),
    "spiking-actor": (_spiking_actor, 1),
    "mlp-actor": (_mlp_actor, 1),
}


def model_names() -> list[str]:
    return sorted(_MODELS)


def build_model(
    name: str,
    input_shape: tuple[int, ...],
    classes: int,
    neuron: str = "dsn",
    neuron_options: dict[str, Any] | None = None,
    **options: Any,
) -> nn.Module:
    """A new model ``name`` for samples of ``input_shape`` (see the module doc)."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {model_names()}")
    builder, rank = _MODELS[name]
    if rank is not None and len(input_shape) != rank:
        raise ValueError(f"model {name!r} needs samples of {rank} dimensions, got shape {tuple(input_shape)}")
    for key in ("widths",):
        if key in options and isinstance(options[key], list):
            options[key] = tuple(options[key])
    return builder(tuple(input_shape), classes, neuron, dict(neuron_options or {}), **options)
