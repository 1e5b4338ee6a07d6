"""Layers that spiking models need around neurons."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["MultiStep", "set_step_mode"]


class MultiStep(nn.Module):
    """Apply a stateless layer to every step of ``[T, B, *]`` by folding time into the batch.

    ``MultiStep(nn.Conv2d(...))`` maps ``[T, B, C, H, W]`` to ``[T, B, C', H', W']`` with one call
    of the wrapped layer on ``[T*B, C, H, W]`` (like SpikingJelly's ``SeqToANNContainer``).
    In ``step_mode='s'`` it applies the layer to a single step ``[B, *]`` as it is.
    """

    def __init__(self, layer: nn.Module, step_mode: str = "m") -> None:
        super().__init__()
        self.layer = layer
        self.step_mode = step_mode

    def forward(self, x: Tensor) -> Tensor:
        if self.step_mode == "s":
            return self.layer(x)
        if x.dim() < 2:
            raise ValueError(f"MultiStep expects [T, B, *], got shape {tuple(x.shape)}")
        y = self.layer(x.flatten(0, 1))
        return y.unflatten(0, x.shape[:2])

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


def set_step_mode(model: nn.Module, step_mode: str) -> nn.Module:
    """Set ``step_mode`` (``'m'`` or ``'s'``) on every submodule that has one; returns ``model``."""
    if step_mode not in ("m", "s"):
        raise ValueError(f"step_mode must be 'm' or 's', got {step_mode!r}")
    for module in model.modules():
        if hasattr(module, "step_mode"):
            module.step_mode = step_mode
    return model
