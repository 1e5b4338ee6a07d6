r"""Energy and activity accounting: run a model on inputs and count, per layer, what a spike-driven chip
would execute (no Lightning import).

Synaptic operations (every ``F.linear``, ``F.conv1d/2d/3d``, ``matmul``/``bmm`` call, attributed to the
innermost module that made it):

- input of spikes (every value a non-negative integer): accumulates ``AC = sum over input entries of
  S x fan-out``, an integer count ``S`` counting as ``S`` binary spikes (spec: tasks.md section 4). The
  fan-out is exact for convolutions with padding, stride and groups: it is the output of the same
  convolution with all-one weights on the spike map, summed;
- any other input (the first layer's pixels, a non-spiking variant): multiply-accumulates
  ``MAC = output entries x fan-in``.

Neuron operations, per neuron and step (DECIDED from the spec's counts; ``k`` the decay window):

============== =========================================================================
neuron         operations per neuron-step
============== =========================================================================
DSN            ``k`` MACs (decay conv), 1 sigmoid, 1 power (``1/tau``), 1 multiply and 2 adds
               (update), 1 compare (binary) or 1 round + 2 compares (integer clip); the hardware
               options count their cheaper operations (:func:`_dsn_operations`)
LIF / PLIF     1 multiply, 2 adds, 1 compare (+ 1 add for a soft reset or a select for a hard one)
I-LIF          1 multiply, 2 adds, 1 round, 2 compares, 1 multiply-add (soft reset by ``S V_th``)
sliding PSN    ``k`` MACs, 1 compare
PSN, masked    ``T`` (window) MACs, 1 compare
PSN
============== =========================================================================

Energies use a named cost table (pJ per operation, Horowitz ISSCC 2014, 45 nm): ``"45nm-fp32"``
(default: MAC 4.6, AC 0.9, multiply 3.7, add 0.9), ``"45nm-fp16"`` (MAC 1.5, AC 0.4, multiply 1.1, add
0.4) and ``"45nm-int8"`` (MAC 0.23, AC 0.03, multiply 0.2, add 0.03). A compare and a round cost an add;
a sigmoid and a power (transcendentals) cost 8 MACs each (DECIDED: a degree-7 polynomial in Horner form;
a piecewise-linear sigmoid would cost 2 compares and a MAC). Synaptic and neuron energy are reported
apart and in total, per sample (divided by the batch size).

Firing rate per neuron layer: ``sum S / (neuron-steps x N)`` (expanded binary spikes), ``N`` the layer's
largest count (1 for binary neurons).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from paraspike.nn.module_stack import module_stack

__all__ = ["COST_TABLES", "EnergyReport", "LayerCount", "estimate_energy", "neuron_operations"]

_FIXED = {"mac8": 0.23, "mul32": 3.1, "add32": 0.1}  # int8 MAC, int32 multiply and add: the same on any table
COST_TABLES: dict[str, dict[str, float]] = {
    "45nm-fp32": {"mac": 4.6, "ac": 0.9, "mul": 3.7, "add": 0.9, **_FIXED},
    "45nm-fp16": {"mac": 1.5, "ac": 0.4, "mul": 1.1, "add": 0.4, **_FIXED},
    "45nm-int8": {"mac": 0.23, "ac": 0.03, "mul": 0.2, "add": 0.03, **_FIXED},
}
_TRANSCENDENTAL_MACS = 8


@dataclass
class LayerCount:
    """One layer's counts over the whole run (all samples and steps)."""

    name: str
    kind: str  # "synapse" or "neuron"
    ops: dict[str, float] = field(default_factory=dict)  # ac, mac, mul, add, compare, round, sigmoid, power
    neuron_steps: int = 0
    spikes: float = 0.0
    max_spike: int = 1
    module: str = ""

    def add(self, key: str, value: float) -> None:
        self.ops[key] = self.ops.get(key, 0.0) + float(value)

    @property
    def firing_rate(self) -> float | None:
        if self.kind != "neuron" or not self.neuron_steps:
            return None
        return self.spikes / (self.neuron_steps * self.max_spike)

    def energy_pj(self, table: dict[str, float]) -> float:
        o = self.ops
        transcendental = (o.get("sigmoid", 0.0) + o.get("power", 0.0)) * _TRANSCENDENTAL_MACS
        plain = o.get("add", 0.0) + o.get("compare", 0.0) + o.get("round", 0.0)
        return (
            table["mac"] * (o.get("mac", 0.0) + transcendental)
            + table["ac"] * o.get("ac", 0.0)
            + table["mul"] * o.get("mul", 0.0)
            + table["add"] * plain
            + sum(table[key] * o.get(key, 0.0) for key in _FIXED)
        )


@dataclass
class EnergyReport:
    """Per-layer counts and energies of one run; numbers per sample unless named ``total``."""

    layers: list[LayerCount]
    samples: int
    table_name: str
    uncounted: list[str]

    @property
    def table(self) -> dict[str, float]:
        return COST_TABLES[self.table_name]

    def energy_uj(self, kind: str | None = None) -> float:
        """Energy per sample in microjoules: synaptic (``"synapse"``), neuron (``"neuron"``) or total."""
        chosen = [layer for layer in self.layers if kind is None or layer.kind == kind]
        return sum(layer.energy_pj(self.table) for layer in chosen) / self.samples / 1e6

    def firing_rate(self) -> float | None:
        """Expanded binary firing rate over all neuron layers."""
        neurons = [layer for layer in self.layers if layer.kind == "neuron" and layer.neuron_steps]
        if not neurons:
            return None
        return sum(layer.spikes for layer in neurons) / sum(layer.neuron_steps * layer.max_spike for layer in neurons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cost_table": self.table_name,
            "costs_pj": self.table,
            "samples": self.samples,
            "energy_uj_per_sample": {
                "synaptic": self.energy_uj("synapse"),
                "neuron": self.energy_uj("neuron"),
                "total": self.energy_uj(),
            },
            "firing_rate": self.firing_rate(),
            "layers": [
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "module": layer.module,
                    "ops_per_sample": {k: v / self.samples for k, v in layer.ops.items()},
                    "energy_uj_per_sample": layer.energy_pj(self.table) / self.samples / 1e6,
                    "firing_rate": layer.firing_rate,
                }
                for layer in self.layers
            ],
            "uncounted": self.uncounted,
        }

    def format_table(self) -> str:
        """A plain-text table: one row per layer, then the totals."""
        rows = [f"{'layer':<28} {'kind':<8} {'ACs':>11} {'MACs':>11} {'rate':>7} {'energy (uJ)':>12}"]
        for layer in self.layers:
            rate = "" if layer.firing_rate is None else f"{layer.firing_rate:.3f}"
            rows.append(
                f"{layer.name[:28]:<28} {layer.kind:<8} {layer.ops.get('ac', 0.0) / self.samples:>11.4g} "
                f"{layer.ops.get('mac', 0.0) / self.samples:>11.4g} {rate:>7} "
                f"{layer.energy_pj(self.table) / self.samples / 1e6:>12.4g}"
            )
        rows.append(
            f"per sample ({self.table_name}): synaptic {self.energy_uj('synapse'):.4g} uJ, neuron "
            f"{self.energy_uj('neuron'):.4g} uJ, total {self.energy_uj():.4g} uJ"
        )
        if self.uncounted:
            rows.append("not counted: " + "; ".join(self.uncounted))
        return "\n".join(rows)


def _is_spikes(x: Tensor) -> bool:
    return bool(x.numel()) and not x.is_complex() and bool(((x >= 0) & (x == torch.floor(x))).all())


def neuron_operations(module: nn.Module) -> tuple[dict[str, float], int] | None:
    """``(operations per neuron-step, largest spike count N)`` of a neuron module, or ``None`` for a
    module that is not a neuron this table knows (see the module doc)."""
    from paraspike.neurons.dsn import DSN
    from paraspike.neurons.lif import ILIF, LIF
    from paraspike.neurons.psn import PSN, MaskedPSN, SlidingPSN

    if isinstance(module, DSN):
        return _dsn_operations(module), module.max_spike
    if isinstance(module, ILIF):
        return {"mul": 1, "add": 2, "round": 1, "compare": 2, "mac": 1}, module.max_spike
    if isinstance(module, LIF):
        reset = {"hard": {"compare": 1}, "soft": {"add": 1}, "none": {}}[module.reset_mode]
        ops = {"mul": 1, "add": 2, "compare": 1}
        for key, value in reset.items():
            ops[key] = ops.get(key, 0) + value
        return ops, 1
    if isinstance(module, SlidingPSN):
        return {"mac": module.k, "compare": 1}, 1
    if isinstance(module, (PSN, MaskedPSN)):
        return {"mac": module.T, "compare": 1}, 1
    name = type(module).__name__
    if hasattr(module, "v_threshold") and "LIF" in name.upper():  # SpikingJelly / snnTorch LIF-like nodes
        return {"mul": 1, "add": 2, "compare": 1}, 1
    if hasattr(module, "v_threshold") and name.startswith("IF"):
        return {"add": 2, "compare": 1}, 1
    return None


def _dsn_operations(dsn: Any) -> dict[str, float]:
    """A DSN's operations per neuron-step, with its hardware options (:mod:`paraspike.neurons.hardware`):
    int8 taps are int8 MACs; a hard sigmoid is a MAC and 2 compares, its integer power ``1/tau = n``
    ``ceil(log2 n)`` squarings; ``pow2`` finds the shift with 4 compares and updates with a shift and 2
    adds; a fixed-point state makes the update's multiply and adds int32."""
    ops: dict[str, float] = {}

    def add(key: str, value: float) -> None:
        ops[key] = ops.get(key, 0.0) + value

    add("mac8" if dsn.weight_bits is not None and dsn.weight_bits <= 8 else "mac", dsn.kernel_size)
    exponent = 1.0 / dsn.tau
    if dsn.decay_fn == "pow2":
        add("compare", 4)
        update = {"add": 3}  # H + (x - H) >> s: two adds and a shift (costed as an add)
    else:
        if dsn.decay_fn == "hard_sigmoid":
            add("mac", 1)
            add("compare", 2)
            if float(exponent).is_integer():
                add("mul", max(0, math.ceil(math.log2(exponent))) if exponent > 1 else 0)
            else:
                add("power", 1)
        else:
            add("sigmoid", 1)
            add("power", 1)
        update = {"mul": 1, "add": 2}
    if dsn.state_frac_bits is not None:
        update = {f"{key}32": value for key, value in update.items()}
    for key, value in update.items():
        add(key, value)
    if dsn.max_spike == 1:
        add("compare", 1)
    else:
        add("round", 1)
        add("compare", 2)
    return ops


def _is_neuron(module: nn.Module) -> bool:
    from paraspike.neurons.utils import is_stateful_neuron

    return neuron_operations(module) is not None or (is_stateful_neuron(module) and hasattr(module, "v_threshold"))


class _Counter(TorchFunctionMode):
    """Counts the synaptic calls made while active, attributing them to the innermost module."""

    def __init__(self, layers: dict[str, LayerCount], stack: list[str]) -> None:
        super().__init__()
        self.layers, self.stack = layers, stack
        self.inside_neuron = 0

    def _layer(self, what: str) -> LayerCount:
        name = self.stack[-1] if self.stack else "(top)"
        key = f"{name}:{what}"
        if key not in self.layers:
            self.layers[key] = LayerCount(
                name=name if what in ("linear", "conv") else f"{name} ({what})", kind="synapse"
            )
        return self.layers[key]

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.inside_neuron:
            return out
        with torch._C.DisableTorchFunction():
            if func is F.linear:
                self._count_linear(args[0], args[1])
            elif func in (F.conv1d, F.conv2d, F.conv3d):
                self._count_conv(func, args, kwargs, out)
            elif func in (torch.matmul, Tensor.matmul, Tensor.__matmul__, torch.bmm):
                self._count_matmul(args[0], args[1], out)
        return out

    def _count_linear(self, x: Tensor, weight: Tensor) -> None:
        layer = self._layer("linear")
        if _is_spikes(x):
            layer.add("ac", x.detach().double().sum().item() * weight.shape[0])
        else:
            layer.add("mac", x.numel() // x.shape[-1] * weight.shape[0] * weight.shape[1])

    def _count_conv(self, func: Callable, args: tuple, kwargs: dict, out: Tensor) -> None:
        x, weight = args[0], args[1]
        layer = self._layer("conv")
        if _is_spikes(x):
            names = ("stride", "padding", "dilation", "groups")
            options = {n: v for n, v in zip(names, args[3:], strict=False)} | {
                n: kwargs[n] for n in names if n in kwargs
            }
            fanout = func(x.detach().double(), torch.ones_like(weight, dtype=torch.float64), None, **options)
            layer.add("ac", fanout.sum().item())
        else:
            layer.add("mac", out.numel() * (weight.numel() // weight.shape[0]))

    def _count_matmul(self, a: Tensor, b: Tensor, out: Tensor) -> None:
        if a.dim() < 2 or b.dim() < 2:
            return
        layer = self._layer("matmul")
        inner = a.shape[-1]
        if _is_spikes(a):
            layer.add(
                "ac",
                a.detach().double().sum().item() * b.shape[-1] * (out.numel() // (a.numel() // inner * b.shape[-1])),
            )
        elif _is_spikes(b):
            layer.add(
                "ac",
                b.detach().double().sum().item() * a.shape[-2] * (out.numel() // (b.numel() // inner * a.shape[-2])),
            )
        else:
            layer.add("mac", out.numel() * inner)


def estimate_energy(
    model: nn.Module,
    inputs: Tensor | tuple[Any, ...],
    *,
    cost_table: str = "45nm-fp32",
    batch_dim: int = 0,
) -> EnergyReport:
    """Run ``model(*inputs)`` once (no gradients, the model's current mode) and count its operations.

    Args:
        model: any module (paraspike models, SpikingJelly layers and neurons, plain PyTorch).
        inputs: the input tensor, or a tuple of positional inputs.
        cost_table: a key of :data:`COST_TABLES`.
        batch_dim: the batch dimension of the first input, for per-sample numbers: 0 for the models of
            :mod:`paraspike.models` (batch first), 1 for a multi-step network fed ``[T, B, ...]``.

    Returns:
        An :class:`EnergyReport`: per-layer operations, firing rates and energies per sample.
    """
    if cost_table not in COST_TABLES:
        raise ValueError(f"unknown cost table {cost_table!r}; choose one of {', '.join(COST_TABLES)}")
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    first = args[0]
    samples = int(first.shape[batch_dim]) if isinstance(first, Tensor) and first.dim() > batch_dim else 1
    layers: dict[str, LayerCount] = {}
    uncounted: set[str] = set()
    with module_stack(model) as stack:
        counter = _Counter(layers, stack)
        handles = []
        for name, module in model.named_modules():
            handles += _attach(name or type(model).__name__, module, layers, counter, uncounted)
        try:
            with torch.no_grad(), counter:
                model(*args)
        finally:
            for handle in handles:
                handle.remove()
    # execution order, a module's entries (keys "<module path>:<op>") kept together at its first call
    first_call: dict[str, int] = {}
    for key in layers:
        first_call.setdefault(key.rsplit(":", 1)[0], len(first_call))
    ordered = [layers[key] for key in sorted(layers, key=lambda key: first_call[key.rsplit(":", 1)[0]])]
    return EnergyReport(layers=ordered, samples=samples, table_name=cost_table, uncounted=sorted(uncounted))


def _attach(
    name: str,
    module: nn.Module,
    layers: dict[str, LayerCount],
    counter: _Counter,
    uncounted: set[str],
) -> list[Any]:
    """Note what ``module`` cannot have counted; for a neuron, hooks that count its steps, spikes and
    operations (and keep the counter from reading its internal ops as synapses)."""
    if _uncountable(module):
        uncounted.add(f"{name} ({type(module).__name__}): {_uncountable(module)}")
    if not _is_neuron(module):
        return []

    def before(_: nn.Module, __: Any) -> None:
        counter.inside_neuron += 1

    def after(mod: nn.Module, _: Any, out: Any) -> None:
        counter.inside_neuron -= 1
        known = neuron_operations(mod)
        key = f"{name}:neuron"
        if key not in layers:
            layers[key] = LayerCount(name=name, kind="neuron", module=type(mod).__name__)
        layer = layers[key]
        if isinstance(out, Tensor):
            layer.neuron_steps += out.numel()
            layer.spikes += out.detach().double().sum().item()
        if known is None:
            uncounted.add(f"{name} ({type(mod).__name__}): neuron operations unknown, spikes counted")
            return
        ops, layer.max_spike = known
        steps = out.numel() if isinstance(out, Tensor) else 0
        for key_, value in ops.items():
            layer.add(key_, value * steps)

    return [module.register_forward_pre_hook(before), module.register_forward_hook(after)]


def _uncountable(module: nn.Module) -> str:
    from paraspike.models.s4d import S4D

    if isinstance(module, S4D):
        return "the FFT long convolution is not counted (its kernel mixing is a dense float operation)"
    return ""
