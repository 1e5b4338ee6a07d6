"""Spiking models in which any registered neuron can be plugged in by name."""

from paraspike.models.linear_forecast import LinearForecaster
from paraspike.models.registry import build_model, model_names
from paraspike.models.sequential_image import SequentialImageNet
from paraspike.models.sew_resnet import SEWResNet
from paraspike.models.spikformer import CausalSpikformer, Spikformer
from paraspike.models.vgg import SpikingVGG

__all__ = [
    "LinearForecaster",
    "SequentialImageNet",
    "SpikingVGG",
    "SEWResNet",
    "Spikformer",
    "CausalSpikformer",
    "build_model",
    "model_names",
]
