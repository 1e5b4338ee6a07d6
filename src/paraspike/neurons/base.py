"""Stateful neuron base class with SpikingJelly-compatible conventions (no SpikingJelly import).

* ``step_mode='m'``: input ``[T, B, C, *]``; ``step_mode='s'``: input ``[B, C, *]``.
* ``reset()`` clears the state; ``spikingjelly.activation_based.functional.reset_net`` calls it.
* states are plain attributes, never buffers, so ``state_dict()`` is the same in both modes.
* a state carried into a call whose graph a ``backward()`` has already freed is reported with a
  clear error pointing at :func:`~paraspike.neurons.reset_net` / :func:`~paraspike.neurons.detach_net`
  (PyTorch's own message, "backward through the graph a second time", does not say why).
"""

from __future__ import annotations

import contextvars

import torch
from torch import Tensor, nn

__all__ = [
    "MemoryModule",
    "StepModeMixin",
    "STEP_MODES",
    "check_step_mode",
    "TorchScriptUnsupported",
    "graph_was_freed",
]

STEP_MODES = ("m", "s")


def check_step_mode(value: object) -> str:
    """``value`` if it is ``'m'`` or ``'s'``, else a ``ValueError`` that says what each means."""
    if value not in STEP_MODES:
        raise ValueError(
            f"step_mode must be 'm' (multi-step, [T, B, ...]) or 's' (single-step, [B, ...]), got {value!r}"
        )
    return value  # type: ignore[return-value]


class StepModeMixin:
    """A validated ``step_mode`` attribute (``'m'`` or ``'s'``)."""

    @property
    def step_mode(self) -> str:
        """``'m'`` (multi-step, time-first input) or ``'s'`` (single step)."""
        return self._step_mode

    @step_mode.setter
    def step_mode(self, value: str) -> None:
        self._step_mode = check_step_mode(value)


class TorchScriptUnsupported:
    """Makes ``torch.jit.script`` fail at once with a message saying what to use instead."""

    def __prepare_scriptable__(self) -> None:
        raise RuntimeError(
            f"{type(self).__name__}: paraspike neurons do not support torch.jit.script (their state is a Python "
            "attribute and their kernels are custom ops). Use torch.jit.trace after paraspike.reset_net(model) "
            "(the traced graph runs every call from a zero state), torch.compile, torch.export, or "
            "paraspike.export.to_onnx for a deployable graph with the state as explicit inputs and outputs."
        )


_SAVED_NAMES: dict[type, tuple[str, ...]] = {}


def _saved_names(node: object) -> tuple[str, ...]:
    kind = type(node)
    if kind not in _SAVED_NAMES:
        names = tuple(n for n in dir(node) if n.startswith("_saved_"))
        _SAVED_NAMES[kind] = names or (("saved_tensors",) if hasattr(node, "saved_tensors") else ())
    return _SAVED_NAMES[kind]


def graph_was_freed(tensor: Tensor, max_nodes: int = 32) -> bool:
    """Whether a ``backward()`` freed saved tensors in the graph that produced ``tensor`` (looking at
    up to ``max_nodes`` nodes nearest to it); backpropagating through it again would fail."""
    seen: set[int] = set()
    queue = [tensor.grad_fn]
    while queue and len(seen) < max_nodes:
        node = queue.pop(0)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        try:
            for name in _saved_names(node):
                getattr(node, name)
        except RuntimeError:
            return True
        queue.extend(next_node for next_node, _ in node.next_functions)
    return False


EXPLICIT_STATE_TRACE: contextvars.ContextVar[bool] = contextvars.ContextVar("explicit_state_trace", default=False)
"""Set by :func:`paraspike.export.to_onnx` while it traces a single-step network whose state tensors are
graph inputs (so a traced single-step call is correct there)."""


class MemoryModule(StepModeMixin, TorchScriptUnsupported, nn.Module):
    """A module with per-sequence state and a step mode."""

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__()
        self._memory_names: list[str] = []
        self._state_backward_ran: list[bool] | None = None
        self.step_mode = step_mode

    def register_memory(self, name: str) -> None:
        """Declare a state attribute; it starts as ``None`` and ``reset()`` sets it back."""
        self._memory_names.append(name)
        setattr(self, name, None)

    def _store(self, name: str, value: object) -> None:
        """``self.<name> = value`` for a plain state attribute (never a parameter, buffer, submodule or
        property), without ``nn.Module.__setattr__``'s registration checks: they cost about a
        microsecond per write, a measurable part of a small layer's call. Under ``torch.compile`` the
        ordinary assignment, which dynamo traces."""
        if torch.compiler.is_compiling():
            setattr(self, name, value)
        else:
            self.__dict__[name] = value

    def reset(self) -> None:
        """Forget the state: the next call starts a new sequence."""
        for name in self._memory_names:
            if name in self.__dict__:
                self._store(name, None)
            else:  # a property (e.g. DSN.history): its setter keeps its own fields
                setattr(self, name, None)
        self._store("_state_backward_ran", None)

    def detach(self) -> None:
        """Cut the autograd graph through the state (truncated backpropagation through time)."""
        for name in self._memory_names:
            value = getattr(self, name)
            if isinstance(value, Tensor):
                setattr(self, name, value.detach())
        self._state_backward_ran = None

    def _check_carried_graph(self) -> None:
        """Raise a clear error when the state carried into this call belongs to a graph whose saved
        tensors a ``backward()`` has freed (the next backward would fail inside autograd). Checked only
        after a backward pass went through the previous call's output."""
        ran = self._state_backward_ran
        if ran is None or not ran[0] or not torch.is_grad_enabled():
            return
        for name in self._memory_names:
            value = getattr(self, name)
            if isinstance(value, Tensor) and value.grad_fn is not None and graph_was_freed(value):
                raise RuntimeError(
                    f"{type(self).__name__}: the state carried from the previous call belongs to a graph that "
                    "backward() has already freed, so backpropagating through this call would fail with "
                    "'Trying to backward through the graph a second time'. Call paraspike.reset_net(model) (or "
                    "spikingjelly's functional.reset_net) before every new sequence, or "
                    "paraspike.detach_net(model) to continue the same sequence with truncated backpropagation "
                    "through time."
                )

    def _watch_output(self, out: Tensor) -> None:
        """Note when a backward pass runs through this call's output (a hook costs a few microseconds;
        subclasses whose backward itself reports a freed carried state skip it)."""
        self._store("_state_backward_ran", None)
        if not out.requires_grad or torch.compiler.is_compiling() or torch.jit.is_tracing():
            return
        flag = [False]

        def mark(_: Tensor) -> None:
            flag[0] = True

        out.register_hook(mark)
        self._store("_state_backward_ran", flag)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_tracing():
            return self._traced_forward(x)
        self._check_carried_graph()
        out = self.multi_step_forward(x) if self.step_mode == "m" else self.single_step_forward(x)
        self._watch_output(out)
        return out

    def _traced_forward(self, x: Tensor) -> Tensor:
        """A traced call (``torch.jit.trace``, ``torch.onnx.export``) becomes a graph that runs every call
        from a zero state: only whole sequences (multi-step) from a reset neuron trace correctly, and the
        call leaves no state behind (the tracer's own check re-runs the model). Inside
        :func:`paraspike.export.to_onnx` the state is a graph input set on the module, and a single-step
        call traces as the serial update."""
        if EXPLICIT_STATE_TRACE.get() and self.step_mode == "s":
            return self.single_step_forward(x)
        what = "torch.onnx.export" if torch.onnx.is_in_onnx_export() else "torch.jit.trace"
        name = type(self).__name__
        if self.step_mode == "s":
            raise RuntimeError(
                f"{what} of a single-step {name} would restart from a zero state at every call of the graph. "
                "Trace whole sequences in multi-step mode, or use paraspike.export.to_onnx(model, "
                "example_step_input, path): the single-step network with the state as explicit inputs and outputs."
            )
        if any(getattr(self, n) is not None for n in self._memory_names):
            raise RuntimeError(
                f"{what}: this {name} holds a state from an earlier call, which the graph would bake in as a "
                "constant. Call paraspike.reset_net(model) first: the traced graph runs every call from a zero "
                "state. To carry the state between calls use paraspike.export.to_onnx."
            )
        try:
            return self.multi_step_forward(x)
        finally:
            self.reset()

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def single_step_forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"
