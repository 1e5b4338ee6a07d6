"""Stateful neuron base class with SpikingJelly-compatible conventions (no SpikingJelly import).

* ``step_mode='m'``: input ``[T, B, C, *]``; ``step_mode='s'``: input ``[B, C, *]``.
* ``reset()`` clears the state; ``spikingjelly.activation_based.functional.reset_net`` calls it.
* states are plain attributes, never buffers, so ``state_dict()`` is the same in both modes.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["MemoryModule", "STEP_MODES"]

STEP_MODES = ("m", "s")


class MemoryModule(nn.Module):
    """A module with per-sequence state and a step mode."""

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__()
        self._memory_names: list[str] = []
        self.step_mode = step_mode

    @property
    def step_mode(self) -> str:
        """``'m'`` (multi-step, time-first input) or ``'s'`` (single step)."""
        return self._step_mode

    @step_mode.setter
    def step_mode(self, value: str) -> None:
        if value not in STEP_MODES:
            raise ValueError(f"step_mode must be 'm' (multi-step) or 's' (single-step), got {value!r}")
        self._step_mode = value

    def register_memory(self, name: str) -> None:
        """Declare a state attribute; it starts as ``None`` and ``reset()`` sets it back."""
        self._memory_names.append(name)
        setattr(self, name, None)

    def reset(self) -> None:
        """Forget the state: the next call starts a new sequence."""
        for name in self._memory_names:
            setattr(self, name, None)

    def detach(self) -> None:
        """Cut the autograd graph through the state (truncated backpropagation through time)."""
        for name in self._memory_names:
            value = getattr(self, name)
            if isinstance(value, Tensor):
                setattr(self, name, value.detach())

    def forward(self, x: Tensor) -> Tensor:
        if self.step_mode == "m":
            return self.multi_step_forward(x)
        return self.single_step_forward(x)

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def single_step_forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"
