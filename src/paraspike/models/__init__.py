"""Spiking models in which any registered neuron can be plugged in by name."""

from paraspike.models.linear_forecast import LinearForecaster
from paraspike.models.registry import build_model, model_names
from paraspike.models.s4d import S4D
from paraspike.models.sequential_image import SequentialImageNet
from paraspike.models.sew_resnet import SEWResNet
from paraspike.models.spikformer import CausalSpikformer, Spikformer
from paraspike.models.spiking_ssm import SpikingSSMBlock, SpikingSSMLM
from paraspike.models.vgg import SpikingVGG

__all__ = [
    "LinearForecaster",
    "SequentialImageNet",
    "SpikingVGG",
    "SEWResNet",
    "Spikformer",
    "CausalSpikformer",
    "S4D",
    "SpikingSSMBlock",
    "SpikingSSMLM",
    "build_model",
    "model_names",
]
