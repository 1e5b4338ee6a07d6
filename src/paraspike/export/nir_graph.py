r"""NIR export (PyPI ``nir``) of the baselines NIR can express, and a reference simulator of the result.

NIR neurons are continuous-time ODEs with static per-neuron parameters. With forward Euler at step
``dt`` (``dt = 1`` here: one network step per unit of time) NIR's LIF
``tau dv/dt = (v_leak - v) + R I``, spike ``z = v > v_th``, then ``v = v_reset`` where ``z``, is
exactly this library's (and SpikingJelly's) LIF step with a hard reset::

    ours:  h = v + (x - (v - v_reset)) / tau      (decay_input)    -> tau_nir = tau dt, v_leak = v_reset, R = 1
           h = v - (v - v_reset) / tau + x        (no decay_input) -> the same with R = tau

IF (``dv/dt = R I``) maps with ``R = 1/dt``; a reset-free LIF maps to ``LI`` followed by a ``Threshold``.
Synapses: ``nn.Linear`` -> ``Affine`` (``Linear`` without bias), ``nn.Conv2d`` -> ``Conv2d``,
``nn.Flatten`` -> ``Flatten`` (dimensions counted without the batch), ``nn.AvgPool2d`` -> ``AvgPool2d``;
:class:`~paraspike.nn.MultiStep` wrappers, ``nn.Identity`` and ``nn.Dropout`` are looked through.
The network must be an ``nn.Sequential`` chain.

Not expressible, refused with the reason: a soft (subtractive) reset (NIR neurons reset to
``v_reset``), integer spike counts, and the DSN, whose decay is computed from its recent inputs at every
step: NIR's primitives have static parameters, and no composition of them computes an input-dependent
leak (no approximate export is offered: a DSN with its decay frozen at one value is a different network).

Two differences in convention, measured by the tests: NIR fires at ``v > v_th`` (strictly), this
library at ``v >= v_th``; both runs start from rest (``v = v_leak``, IF at ``v_reset``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["to_nir", "run_nir"]


def _import_nir() -> Any:
    try:
        import nir
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_nir needs the nir package: pip install 'paraspike[export]' (or pip install nir)"
        ) from error
    return nir


def _chain(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    from paraspike.nn import MultiStep

    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"to_nir exports nn.Sequential chains; got {type(model).__name__}. Write the network as an "
            "nn.Sequential of synaptic layers and neurons (MultiStep wrappers are fine)."
        )
    for name, module in model.named_children():
        while isinstance(module, MultiStep):
            module = module.layer
        if isinstance(module, nn.Sequential):
            for inner, child in _chain(module):
                yield f"{name}.{inner}", child
        elif not isinstance(module, (nn.Identity, nn.Dropout)):
            yield name, module


def _array(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float32), shape).copy()


def _neuron_nodes(nir: Any, name: str, module: nn.Module, shape: tuple[int, ...], dt: float) -> list[tuple[str, Any]]:
    """NIR nodes for a neuron producing per-sample outputs of ``shape``."""
    from paraspike.neurons.dsn import DSN
    from paraspike.neurons.lif import ILIF, LIF, PLIF

    kind = type(module).__name__
    if isinstance(module, DSN):
        raise ValueError(
            f"to_nir: layer {name!r} is a DSN. Its decay alpha_t = sigmoid(conv(x)_t)^(1/tau) is computed from its "
            "recent inputs at every step; NIR's neurons (LIF, LI, IF, CubaLIF) have static parameters and no "
            "composition of NIR primitives computes an input-dependent leak, so the DSN has no NIR form. Export it "
            "with paraspike.export.to_onnx (the state as explicit inputs), or use a LIF network for NIR targets."
        )
    if isinstance(module, ILIF):
        raise ValueError(f"to_nir: layer {name!r} fires integer counts with a soft reset; NIR has neither")
    if isinstance(module, LIF):
        tau = 1.0 / float(module._leak()) if isinstance(module, PLIF) else module.tau
        return _lif_nodes(
            nir, name, shape, dt, tau, module.reset_mode, module.v_reset, module.v_threshold, module.decay_input
        )
    if kind in ("LIFNode", "ParametricLIFNode", "IFNode") and hasattr(module, "v_threshold"):  # SpikingJelly
        if module.v_reset is None:
            raise ValueError(
                f"to_nir: layer {name!r} ({kind}) has a soft reset (v_reset=None); NIR neurons reset to v_reset"
            )
        if kind == "IFNode":
            node = nir.IF(
                r=_array(1.0 / dt, shape),
                v_threshold=_array(module.v_threshold, shape),
                v_reset=_array(module.v_reset, shape),
            )
            return [(name, node)]
        tau = 1.0 / float(module.w.sigmoid()) if kind == "ParametricLIFNode" else float(module.tau)
        return _lif_nodes(nir, name, shape, dt, tau, "hard", module.v_reset, module.v_threshold, module.decay_input)
    raise ValueError(
        f"to_nir: layer {name!r} ({kind}) has no NIR primitive "
        "(supported: LIF/PLIF/IF with a hard reset, reset-free LIF)"
    )


def _lif_nodes(
    nir: Any,
    name: str,
    shape: tuple[int, ...],
    dt: float,
    tau: float,
    reset: str,
    v_reset: float,
    v_th: float,
    decay_input: bool,
) -> list[tuple[str, Any]]:
    r = 1.0 if decay_input else tau
    if reset == "soft":
        raise ValueError(
            f"to_nir: layer {name!r} is a LIF with a soft (subtractive) reset; NIR neurons reset to v_reset"
        )
    if reset == "none":  # leaky integration (resting at 0) and a threshold, no reset
        leaky = nir.LI(tau=_array(tau * dt, shape), r=_array(r, shape), v_leak=_array(0.0, shape))
        return [(f"{name}.li", leaky), (f"{name}.threshold", nir.Threshold(threshold=_array(v_th, shape)))]
    node = nir.LIF(
        tau=_array(tau * dt, shape),
        r=_array(r, shape),
        v_leak=_array(v_reset, shape),
        v_threshold=_array(v_th, shape),
        v_reset=_array(v_reset, shape),
    )
    return [(name, node)]


def _synapse_node(nir: Any, name: str, module: nn.Module, in_shape: tuple[int, ...]) -> Any:
    def numpy(t: Tensor) -> np.ndarray:
        return t.detach().cpu().float().numpy()

    if isinstance(module, nn.Linear):
        if module.bias is None:
            return nir.Linear(weight=numpy(module.weight))
        return nir.Affine(weight=numpy(module.weight), bias=numpy(module.bias))
    if isinstance(module, nn.Conv2d):
        if isinstance(module.padding, str):
            raise ValueError(f"to_nir: layer {name!r} uses padding={module.padding!r}; give the padding as numbers")
        bias = numpy(module.bias) if module.bias is not None else np.zeros(module.out_channels, dtype=np.float32)
        return nir.Conv2d(
            input_shape=tuple(in_shape[-2:]),
            weight=numpy(module.weight),
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=bias,
        )
    if isinstance(module, nn.Flatten):
        return nir.Flatten(
            input_type={"input": np.array(in_shape)}, start_dim=module.start_dim - 1, end_dim=module.end_dim
        )
    if isinstance(module, nn.AvgPool2d):
        pair = nn.modules.utils._pair
        return nir.AvgPool2d(
            kernel_size=np.array(pair(module.kernel_size)),
            stride=np.array(pair(module.stride or module.kernel_size)),
            padding=np.array(pair(module.padding)),
        )
    raise ValueError(f"to_nir: layer {name!r} ({type(module).__name__}) has no NIR primitive")


def _is_neuron(module: nn.Module) -> bool:
    from paraspike.neurons.utils import is_stateful_neuron

    return is_stateful_neuron(module) or hasattr(module, "v_threshold")


def to_nir(model: nn.Module, example_input: Tensor, dt: float = 1.0) -> Any:
    """A ``nir.NIRGraph`` of ``model`` (an ``nn.Sequential`` chain; see the module doc).

    Args:
        model: the network.
        example_input: one step of input ``[B, ...]`` (fixes each layer's shape).
        dt: the time step the NIR time constants are expressed in (one network step = ``dt``).
    """
    nir = _import_nir()
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}")
    layers = list(_chain(model))
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(example_input.shape[1:])})}
    order = ["input"]
    x = example_input.detach()
    with torch.no_grad():
        for name, module in layers:
            in_shape = tuple(x.shape[1:])
            if _is_neuron(module):
                new = _neuron_nodes(nir, name, module, in_shape, dt)
            else:
                new = [(name, _synapse_node(nir, name, module, in_shape))]
                x = module(x)
            for node_name, node in new:
                nodes[node_name] = node
                order.append(node_name)
    nodes["output"] = nir.Output(output_type={"output": np.array(x.shape[1:])})
    order.append("output")
    edges = list(zip(order[:-1], order[1:], strict=True))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _topological(graph: Any) -> list[str]:
    following = {source: target for source, target in graph.edges}
    if len(following) != len(graph.edges) or len({t for _, t in graph.edges}) != len(graph.edges):
        raise ValueError("run_nir simulates chains (every node with one successor and one predecessor)")
    order, node = [], "input"
    while node in following:
        order.append(node)
        node = following[node]
    return [*order, node]


def run_nir(graph: Any, x_seq: Tensor, dt: float = 1.0) -> Tensor:
    """Simulate a NIR chain over ``x_seq`` ``[T, B, ...]`` with forward Euler at ``dt`` (float64 inside);
    returns the output ``[T, B, ...]``. Nodes: Input, Output, Affine, Linear, Conv2d, Flatten, AvgPool2d,
    LIF, LI, IF, Threshold (NIR's definitions)."""
    order = _topological(graph)
    state: dict[str, Tensor] = {}
    outputs = []
    for x in x_seq.double().unbind(0):
        for name in order:
            x = _step(graph.nodes[name], name, x, state, dt)
        outputs.append(x)
    return torch.stack(outputs).to(x_seq.dtype)


def _t(array: Any) -> Tensor:
    return torch.as_tensor(np.asarray(array), dtype=torch.float64)


def _step(node: Any, name: str, x: Tensor, state: dict[str, Tensor], dt: float) -> Tensor:
    kind = type(node).__name__
    if kind in ("Input", "Output"):
        return x
    if kind == "Affine":
        return x @ _t(node.weight).T + _t(node.bias)
    if kind == "Linear":
        return x @ _t(node.weight).T
    if kind == "Conv2d":
        return F.conv2d(
            x,
            _t(node.weight),
            _t(node.bias),
            tuple(node.stride),
            tuple(node.padding),
            tuple(node.dilation),
            node.groups,
        )
    if kind == "Flatten":
        return x.flatten(node.start_dim + 1, node.end_dim if node.end_dim < 0 else node.end_dim + 1)
    if kind == "AvgPool2d":
        return F.avg_pool2d(
            x,
            tuple(int(k) for k in node.kernel_size),
            tuple(int(s) for s in node.stride),
            tuple(int(p) for p in node.padding),
        )
    if kind == "Threshold":
        return (x > _t(node.threshold)).to(x.dtype)
    if kind in ("LIF", "LI"):
        rest = _t(node.v_leak)
        v = state.get(name, rest.expand_as(x))
        v = v + dt / _t(node.tau) * (rest - v + _t(node.r) * x)
        if kind == "LI":
            state[name] = v
            return v
        spikes = (v > _t(node.v_threshold)).to(x.dtype)
        state[name] = torch.where(spikes > 0, _t(node.v_reset).expand_as(v), v)
        return spikes
    if kind == "IF":
        v = state.get(name, _t(node.v_reset).expand_as(x))
        v = v + dt * _t(node.r) * x
        spikes = (v > _t(node.v_threshold)).to(x.dtype)
        state[name] = torch.where(spikes > 0, _t(node.v_reset).expand_as(v), v)
        return spikes
    raise ValueError(f"run_nir: node {name!r} of type {kind} is not simulated here")
