"""Which module is running: the stack of module paths of a model's forward, for tools that attribute
functional calls (``F.linear``, ``matmul``...) to the innermost module that made them
(:mod:`paraspike.energy`, :func:`paraspike.nn.run_spike_driven`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

__all__ = ["module_stack"]


@contextmanager
def module_stack(model: nn.Module) -> Iterator[list[str]]:
    """While active, the yielded list holds the paths (as in ``named_modules``; the model itself by its
    class name) of the modules whose forward is running, innermost last."""
    stack: list[str] = []

    def leave(_module: nn.Module, _inputs: Any, _output: Any) -> None:  # returns None: the output stays
        stack.pop()

    handles = []
    for name, module in model.named_modules():
        label = name or type(model).__name__

        def enter(_module: nn.Module, _inputs: Any, label: str = label) -> None:
            stack.append(label)

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()
