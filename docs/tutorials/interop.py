"""Tutorial 2: the DSN inside a SpikingJelly model, and moving an existing SpikingJelly / snnTorch-style
model to the DSN.

Run: python docs/tutorials/interop.py  (needs: pip install --no-deps spikingjelly==2.0.0 loguru)
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from paraspike import DSN, reset_net


def swap_neurons(model: nn.Module, is_neuron, make) -> nn.Module:
    """Replace every child for which ``is_neuron(child)`` holds by ``make(channels)``, in place, where
    ``channels`` is the out_channels/out_features of the synaptic layer just before it."""
    channels = None
    for name, child in model.named_children():
        channels = getattr(child, "out_channels", getattr(child, "out_features", channels))
        if is_neuron(child):
            setattr(model, name, make(channels))
        else:
            swap_neurons(child, is_neuron, make)
    return model


def main(out: Path = Path("docs/tutorials/figures"), quick: bool = False) -> dict[str, float]:
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    # 1. A SpikingJelly network in multi-step mode, [T, B, C, H, W]:
    sj_model = nn.Sequential(
        layer.Conv2d(1, 8, 3, padding=1, step_mode="m"),
        layer.BatchNorm2d(8, step_mode="m"),
        neuron.LIFNode(step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.Linear(8 * 8 * 8, 10, step_mode="m"),
    )
    x = torch.rand(4, 2, 1, 8, 8)
    lif_out = sj_model(x)

    # 2. The DSN drops in where the LIFNode was: same layout, SpikingJelly's reset_net resets it.
    swap_neurons(sj_model, lambda m: isinstance(m, neuron.BaseNode), lambda c: DSN(c))
    assert isinstance(sj_model[2], DSN)
    dsn_out = sj_model(x)
    functional.reset_net(sj_model)  # SpikingJelly's reset reaches the DSN (it has .reset())
    again = sj_model(x)
    reset_net(sj_model)  # paraspike's reset_net resets SpikingJelly neurons too, in mixed models

    # 3. Training works unchanged: the DSN trains with a parallel scan over T.
    optimizer = torch.optim.SGD(sj_model.parameters(), lr=0.1)
    loss = dsn_out.mean(0).logsumexp(-1).mean()
    loss.backward()
    optimizer.step()
    return {
        "lif_output_norm": lif_out.norm().item(),
        "dsn_output_norm": dsn_out.norm().item(),
        "reset_repeats_exactly": float(torch.equal(dsn_out, again)),
    }


if __name__ == "__main__":
    print(main())
