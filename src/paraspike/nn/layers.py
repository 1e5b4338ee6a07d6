"""Layers that spiking models need around neurons."""

from __future__ import annotations

from torch import Tensor, nn

from paraspike.neurons.base import StepModeMixin, check_step_mode

__all__ = ["MultiStep", "set_step_mode"]

# The number of dimensions one step of these layers takes with a batch: [B, C, L], [B, C, H, W], ...
_STEP_DIMS: tuple[tuple[type[nn.Module], int], ...] = (
    (nn.Conv1d, 3),
    (nn.Conv2d, 4),
    (nn.Conv3d, 5),
    (nn.BatchNorm2d, 4),
    (nn.BatchNorm3d, 5),
    (nn.MaxPool2d, 4),
    (nn.AvgPool2d, 4),
    (nn.AdaptiveAvgPool2d, 4),
)


def _expected_step_dims(layer: nn.Module) -> tuple[int, ...] | None:
    """The batched per-step ranks ``layer`` accepts, when it is a layer whose rank is fixed."""
    if isinstance(layer, nn.BatchNorm1d):
        return (2, 3)  # [B, C] or [B, C, L]
    for kind, dims in _STEP_DIMS:
        if isinstance(layer, kind):
            return (dims,)
    return None


class MultiStep(StepModeMixin, nn.Module):
    """Apply a stateless layer to every step of ``[T, B, *]`` by folding time into the batch.

    ``MultiStep(nn.Conv2d(...))`` maps ``[T, B, C, H, W]`` to ``[T, B, C', H', W']`` with one call
    of the wrapped layer on ``[T*B, C, H, W]`` (like SpikingJelly's ``SeqToANNContainer``).
    In ``step_mode='s'`` it applies the layer to a single step ``[B, *]`` as it is.
    """

    def __init__(self, layer: nn.Module, step_mode: str = "m") -> None:
        super().__init__()
        self.layer = layer
        self.step_mode = step_mode

    def _layout_error(self, x: Tensor, detail: str) -> ValueError:
        layer = type(self.layer).__name__
        return ValueError(
            f"MultiStep({layer}) in step_mode='m' expects time first, [T, B, ...] ({detail}), got shape "
            f"{tuple(x.shape)}. If this tensor is a single step without the time dimension, use step_mode='s' "
            "(paraspike.set_step_mode(model, 's')) or add it with x.unsqueeze(0)."
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.step_mode == "s":
            return self.layer(x)
        expected = _expected_step_dims(self.layer)
        if expected is not None and x.dim() - 1 not in expected:
            wanted = " or ".join(f"{d + 1} dimensions" for d in expected)
            raise self._layout_error(x, f"{wanted} for {type(self.layer).__name__}")
        if x.dim() < 3 and isinstance(self.layer, nn.Linear):
            raise self._layout_error(x, "at least 3 dimensions for Linear: [T, B, features]")
        if x.dim() < 2:
            raise self._layout_error(x, "at least 2 dimensions")
        try:
            y = self.layer(x.flatten(0, 1))
        except RuntimeError as error:
            raise self._layout_error(x, f"the wrapped layer failed on [T*B, ...]: {error}") from error
        return y.unflatten(0, x.shape[:2])

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


def set_step_mode(model: nn.Module, step_mode: str) -> nn.Module:
    """Set ``step_mode`` (``'m'`` or ``'s'``) on every submodule that has one (paraspike's and
    SpikingJelly's modules alike); returns ``model``."""
    check_step_mode(step_mode)
    for module in model.modules():
        if hasattr(module, "step_mode"):
            module.step_mode = step_mode
    return model
