r"""ONNX export of a network's single step with every neuron's state as explicit inputs and outputs.

The exported graph computes one time step::

    (y_t, state_t) = f(x_t, state_{t-1})

where ``state`` lists, for every stateful paraspike neuron (DSN: ``h`` and the last ``k-1`` inputs of
its decay conv; LIF family: ``v``; sliding PSN: its last ``k-1`` inputs), one tensor per state
attribute, named ``state_in.<module path>.<attribute>`` / ``state_out.<...>``. A runtime feeds each
step's ``state_out`` back as the next ``state_in``, starting from :attr:`OnnxExport.initial_state`
(the state a freshly reset neuron behaves as having). A sequence stepped this way equals PyTorch's
run over the whole sequence (multi-step or serial): :func:`run_onnx_sequence` does it with
onnxruntime, and :func:`to_onnx` checks it on random steps before returning.

The batch size and the other input dimensions are fixed by the example step (the state's shape depends
on them). Networks whose neurons keep a state that grows with time (masked PSN) or couples all steps
(PSN) have no single-step form and are refused, naming the layer.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from paraspike.neurons.base import EXPLICIT_STATE_TRACE, MemoryModule
from paraspike.neurons.utils import reset_net
from paraspike.nn import set_step_mode

__all__ = ["OnnxExport", "to_onnx", "run_onnx_sequence", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17


@dataclass
class OnnxExport:
    """What :func:`to_onnx` wrote: the file, the graph's input/output names and the initial state."""

    path: Path
    opset: int
    input_name: str
    output_name: str
    state_inputs: list[str]
    state_outputs: list[str]
    initial_state: dict[str, Any] = field(repr=False)  # state input name -> numpy array
    max_abs_error: float | None = None  # onnxruntime against PyTorch over the check's steps


def _state_slots(model: nn.Module) -> list[tuple[str, MemoryModule, str]]:
    """``(module path, module, attribute)`` of every state tensor a single step leaves behind."""
    slots = []
    for path, module in model.named_modules():
        if isinstance(module, MemoryModule):
            for name in module._memory_names:
                if isinstance(getattr(module, name), Tensor):
                    slots.append((path or "model", module, name))
    return slots


def _refuse_unsteppable(model: nn.Module) -> None:
    from paraspike.neurons.psn import PSN, MaskedPSN

    for path, module in model.named_modules():
        if isinstance(module, (PSN, MaskedPSN)):
            raise ValueError(
                f"to_onnx: layer {path or 'model'!r} is a {type(module).__name__}, whose weights couple every step "
                "of a fixed-length window, so it has no single step with a constant-size state to export. Use a "
                "neuron with a serial form (DSN, LIF family, sliding PSN)."
            )


def _initial_value(module: MemoryModule, name: str, like: Tensor) -> Tensor:
    """The tensor a reset ``module`` behaves as holding in ``name`` (the LIF family rests at its
    ``v_reset``; other states start at zero)."""
    if name == "v" and hasattr(module, "_initial_v"):
        saved, module.v = module.v, None
        try:
            return module._initial_v(torch.zeros_like(like)).detach().clone()
        finally:
            module.v = saved
    return torch.zeros_like(like)


class _ExplicitStateStep(nn.Module):
    """``(x, *state) -> (y, *state')``: sets each state attribute, runs one step, reads them back."""

    def __init__(self, model: nn.Module, slots: list[tuple[str, MemoryModule, str]]) -> None:
        super().__init__()
        self.model = model
        self.slots = slots

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        for (_, module, name), value in zip(self.slots, state, strict=True):
            setattr(module, name, value)
        y = self.model(x)
        if not isinstance(y, Tensor):
            raise TypeError(f"to_onnx: the model must return one tensor per step, got {type(y).__name__}")
        out = tuple(getattr(module, name) for _, module, name in self.slots)
        for _, module, name in self.slots:
            setattr(module, name, None)
        return (y, *out)


def _prepare(model: nn.Module, example: Tensor) -> tuple[nn.Module, list[tuple[str, MemoryModule, str]], list[Tensor]]:
    if not isinstance(example, Tensor) or not example.is_floating_point():
        raise TypeError("to_onnx: example_step_input must be a floating-point tensor of one step [B, ...]")
    _refuse_unsteppable(model)
    net = copy.deepcopy(model).eval()
    set_step_mode(net, "s")
    reset_net(net)
    with torch.no_grad():
        net(example)
    slots = _state_slots(net)
    initial = [_initial_value(module, name, getattr(module, name)) for _, module, name in slots]
    reset_net(net)
    return net, slots, initial


def _register_expm1(opset: int) -> None:
    """ONNX has no expm1: export it as ``Exp(x) - 1`` (the DSN's ``1 - alpha = -expm1(log alpha)``;
    the two agree to float rounding, which the check after export measures)."""

    def expm1(g: Any, x: Any) -> Any:
        one = g.op("Constant", value_t=torch.tensor(1.0))
        return g.op("Sub", g.op("Exp", x), g.op("CastLike", one, x))

    torch.onnx.register_custom_op_symbolic("aten::expm1", expm1, opset)


def to_onnx(
    model: nn.Module,
    example_step_input: Tensor,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    check_steps: int = 16,
) -> OnnxExport:
    """Export one step of ``model`` (its neurons switched to single-step mode, on a copy) to ``path``.

    Args:
        model: a network of paraspike neurons and ordinary layers, returning one tensor per step.
        example_step_input: one step ``[B, ...]`` (fixes the batch size and shapes of the graph).
        path: the ``.onnx`` file to write.
        opset: the ONNX opset (default 17).
        check_steps: steps of random input (scaled like the example) on which onnxruntime, when
            installed, must reproduce PyTorch's serial run; ``0`` skips the check.

    Returns:
        An :class:`OnnxExport` with the input/output names and the initial state to start from.
    """
    net, slots, initial = _prepare(model, example_step_input)
    names_in = [f"state_in.{p}.{n}" for p, _, n in slots]
    names_out = [f"state_out.{p}.{n}" for p, _, n in slots]
    step = _ExplicitStateStep(net, slots)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _register_expm1(opset)
    token = EXPLICIT_STATE_TRACE.set(True)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter (dynamo=False) is legacy
            torch.onnx.export(
                step,
                (example_step_input, *initial),
                str(path),
                input_names=["x", *names_in],
                output_names=["y", *names_out],
                opset_version=opset,
                dynamo=False,
            )
    finally:
        EXPLICIT_STATE_TRACE.reset(token)
    export = OnnxExport(
        path=path,
        opset=opset,
        input_name="x",
        output_name="y",
        state_inputs=names_in,
        state_outputs=names_out,
        initial_state={n: t.numpy() for n, t in zip(names_in, initial, strict=True)},
    )
    if check_steps > 0:
        _check_against_torch(model, export, example_step_input, check_steps)
    return export


def _check_against_torch(model: nn.Module, export: OnnxExport, example: Tensor, steps: int) -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return
    generator = torch.Generator().manual_seed(0)
    scale = example.detach().abs().mean().clamp_min(1e-3)
    noise = torch.randn(steps, *example.shape, generator=generator, dtype=example.dtype)
    x_seq = example.detach().unsqueeze(0) + scale * noise
    expected = serial_reference(model, x_seq)
    got = torch.from_numpy(run_onnx_sequence(export, x_seq.numpy()))
    error = (got - expected).abs()
    export.max_abs_error = float(error.max())
    mismatched = (error > 1e-4 * (1 + expected.abs())).double().mean().item()
    if mismatched > 1e-3:
        raise RuntimeError(
            f"to_onnx: onnxruntime differs from PyTorch on {100 * mismatched:.2f}% of the outputs over {steps} "
            f"steps (largest difference {export.max_abs_error:.3g}); please report this with the model"
        )


def serial_reference(model: nn.Module, x_seq: Tensor) -> Tensor:
    """PyTorch's serial run of ``x_seq`` ``[T, B, ...]`` (a reset copy of ``model`` in single-step
    mode, eval), stacked ``[T, ...]``: what the exported graph must reproduce step by step."""
    net = copy.deepcopy(model).eval()
    set_step_mode(net, "s")
    reset_net(net)
    with torch.no_grad():
        return torch.stack([net(x) for x in x_seq.unbind(0)])


def run_onnx_sequence(export: OnnxExport, x_seq: Any, session: Any | None = None) -> Any:
    """Step the exported graph over ``x_seq`` ``[T, B, ...]`` (numpy) with onnxruntime from the
    initial state, feeding each step's state back; returns the outputs stacked ``[T, ...]``."""
    import numpy as np
    import onnxruntime

    if session is None:
        session = onnxruntime.InferenceSession(str(export.path), providers=["CPUExecutionProvider"])
    state = dict(export.initial_state)
    outputs = []
    for x in x_seq:
        result = session.run(None, {export.input_name: np.ascontiguousarray(x), **state})
        outputs.append(result[0])
        state = dict(zip(export.state_inputs, result[1:], strict=True))
    return np.stack(outputs)
