"""``paraspike bench speed --suite layers``: one neuron layer at the shapes users train, few time steps
over many neurons, against the peers and against the memory-traffic floor.

Shapes (float32, forward+backward): convolutional ``[T, 16, 128, 16, 16]`` and dense
``[T, 128, 4096]`` (524,288 neurons each) for ``T`` in {1, 2, 4, 8, 16, 32}. Every model runs in one
process on the same tensors: the DSN (integer and binary spikes, its default backend), SpikingJelly's
``LIFNode``, ``ParametricLIFNode`` and ``PSN`` (and, on CUDA, its CuPy LIF backend), paraspike's own
baselines, and ``copy``: a layer that only copies its input forward and its gradient backward (what a
layer costs that does nothing but move its tensors once).

Models are timed interleaved (each round runs every model once; medians over the rounds), so a slow
spell of a shared machine does not fall on one model alone. Each time is reported as a ratio to the
DSN and as a multiple of the memory-traffic floor: the bytes a DSN layer must move, 28 per
neuron-step (forward: read x, write spikes and H; backward: read the spike gradient, x and H, write
dx; the DSN's fused CPU kernel recomputes H and moves about 20 of them, but the floor keeps
the count of a layer that saves H, as the speed issue set it), over the copy bandwidth measured in the
same run by a copy that moves as many bytes (a buffer
of 3.5 floats per neuron-step, read and written: a smaller buffer would stay in cache and copy faster
than the layer's working set can move).

On the CPU each shape also gets the time of the DSN kernel's loops alone (:func:`kernel_loops_seconds`:
its arithmetic on data in L2, spread over the threads): where that is itself near or above twice the
memory-traffic floor, the floor target is out of reach of the arithmetic, whatever the memory access.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from paraspike.bench.common import machine_info, spikingjelly_lif_implementation
from paraspike.bench.strip_cycles import STAGGERED, time_strips
from paraspike.bench.timing import copy_bandwidth, time_layers_interleaved
from paraspike.neurons import DSN, LIF, PLIF, PSN, SlidingPSN

__all__ = ["LAYER_SHAPES", "LayerModel", "layer_models", "run_layer_benchmark", "kernel_loops_seconds", "FLOOR_BYTES"]

FLOOR_BYTES = 28  # per neuron-step, forward + backward (see the module doc)
LAYOUTS: dict[str, Callable[[int], tuple[int, ...]]] = {
    "conv": lambda t: (t, 16, 128, 16, 16),
    "dense": lambda t: (t, 128, 4096),
}
DEFAULT_STEPS = (1, 2, 4, 8, 16, 32)
LAYER_SHAPES = {layout: [shape(t) for t in DEFAULT_STEPS] for layout, shape in LAYOUTS.items()}


class _CopyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad.clone()


class CopyLayer(nn.Module):
    """Copies its input forward and its gradient backward: 16 bytes per element moved, no arithmetic."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _CopyFunction.apply(x)


@dataclass(frozen=True)
class LayerModel:
    """A benchmarked layer: ``build(shape, device) -> module`` and what it is."""

    name: str
    family: str
    build: Callable[[tuple[int, ...], torch.device], nn.Module]
    note: str = ""


def layer_models(device: torch.device) -> tuple[list[LayerModel], list[str]]:
    """The layers of the suite on ``device`` and notes on what was left out."""
    models = [
        LayerModel("DSN-int", "dsn", lambda s, d: DSN(s[2]).to(d), "N = 4, default backend"),
        LayerModel("DSN-bin", "dsn", lambda s, d: DSN(s[2], max_spike=1).to(d), "N = 1, default backend"),
        LayerModel("copy", "floor", lambda s, d: CopyLayer(), "x.clone() forward, grad.clone() backward"),
        LayerModel("LIF [ours]", "paraspike baseline", lambda s, d: LIF().to(d), "hard reset, loop over T"),
        LayerModel("PLIF [ours]", "paraspike baseline", lambda s, d: PLIF().to(d), "loop over T"),
        LayerModel("PSN [ours]", "paraspike baseline", lambda s, d: PSN(s[0]).to(d), "T x T weight"),
        LayerModel("SlidingPSN k=4 [ours]", "paraspike baseline", lambda s, d: SlidingPSN(4).to(d), "4-tap filter"),
    ]
    notes: list[str] = []
    lif_implementation = spikingjelly_lif_implementation(device)  # on CUDA: its Triton LIF, before the import
    try:
        from spikingjelly.activation_based import neuron as sj
    except Exception as error:  # not installed, or its optional imports fail
        notes.append(f"spikingjelly not importable ({error}); pip install --no-deps spikingjelly==2.0.0 loguru")
        return models, notes
    family = "spikingjelly 2.0.0"
    models += [
        LayerModel("SJ LIFNode (m)", family, lambda s, d: sj.LIFNode(step_mode="m").to(d), lif_implementation),
        LayerModel(
            "SJ ParametricLIFNode (m)", family, lambda s, d: sj.ParametricLIFNode(step_mode="m").to(d), "torch ops"
        ),
        LayerModel("SJ PSN", family, lambda s, d: sj.PSN(s[0]).to(d), "T x T weight (gemm)"),
    ]
    if device.type == "cuda":
        notes.append(
            f"SpikingJelly's LIFNode ran {lif_implementation} (2.0.0 chooses its LIF kernels when imported; its "
            "compiled CUDA extension replaced the CuPy backend): rerun with SJ_LIF_CUDA_IMPLEMENTATION=cuda or "
            "=triton for the other"
        )
    return models, notes


def kernel_loops_seconds(
    shape: tuple[int, ...], threads: int, rounds: int = 5, per_step_ns: float | None = None
) -> float | None:
    """Seconds the DSN-int layer's fused-kernel loops alone would take for ``shape`` forward+backward if
    memory cost nothing: their nanoseconds per neuron-step on one thread, measured on a layer of 32 K
    neuron-steps whose streams stay in L2 (``[T, B, C, 16, 16]`` with ``B = min(16, 128 // T)`` and ``C =
    8 // T`` (each at least 1), so per-strip costs spread over batch rows as in the suite's shapes; no
    dispatcher, autograd, thread pool or allocator: :mod:`paraspike.bench.strip_cycles`), times the
    shape's neuron-steps, over ``threads`` (perfect scaling). A lower bound for the layer: with the
    memory-traffic floor it says whether a target is out of reach of the arithmetic itself. None where
    the CPU kernels are unavailable. ``per_step_ns``: that time per neuron-step, already measured at
    this T (:func:`_kernel_loops_ns`), instead of timing it again."""
    if per_step_ns is None:
        per_step_ns = _kernel_loops_ns(shape[0], rounds)
    return None if per_step_ns is None else per_step_ns * 1e-9 * math.prod(shape) / max(1, threads)


def _kernel_loops_ns(steps: int, rounds: int) -> float | None:
    """Forward + backward nanoseconds per neuron-step of the kernel's loops at ``steps`` time steps (see
    :func:`kernel_loops_seconds`), or None where the CPU kernels are unavailable."""
    try:
        row = time_strips(steps, min(16, max(1, 128 // steps)), max(1, 8 // steps), rounds, STAGGERED)
    except RuntimeError:  # no compiler, or the kernels failed to build
        return None
    return row["forward_ns_per_neuron_step"] + row["backward_ns_per_neuron_step"]


def run_layer_benchmark(
    device: str = "cpu",
    steps: tuple[int, ...] = DEFAULT_STEPS,
    layouts: tuple[str, ...] = tuple(LAYOUTS),
    repeats: int = 5,
    cap_s: float = 10.0,
    only: list[str] | None = None,
    min_time_s: float = 0.5,
    on_step: Callable[[dict[str, object]], None] | None = None,
) -> dict[str, object]:
    """Time every model at every layer shape; returns the JSON-ready result (``on_step`` is called
    with it after each shape, and once more at the end, when ``result["complete"]`` turns True; on the
    CPU the kernel-loops times are added then)."""
    dev = torch.device(device)
    models, notes = layer_models(dev)
    if only:
        models = [m for m in models if m.family in ("dsn", "floor") or any(w.lower() in m.name.lower() for w in only)]
    rows: list[dict[str, object]] = []
    result: dict[str, object] = {
        "benchmark": "one neuron layer, forward+backward, at layer shapes",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(dev),
        "repeats": repeats,
        "min_time_s": min_time_s,
        "cap_s": cap_s,
        "floor_bytes_per_neuron_step": FLOOR_BYTES,
        "models": {m.name: {"family": m.family, "note": m.note} for m in models},
        "notes": notes,
        "rows": rows,
        "complete": False,
    }
    plan = [(layout, LAYOUTS[layout](t)) for layout in layouts for t in steps]
    for layout, shape in plan:
        elements = math.prod(shape)
        bandwidth = copy_bandwidth(dev, mebibytes=FLOOR_BYTES / 2 * elements / 2**20)  # moves FLOOR_BYTES each
        floor_s = FLOOR_BYTES * elements / (bandwidth * 1e9)
        timed = time_layers_interleaved(
            {m.name: (lambda m=m, s=shape: m.build(s, dev)) for m in models},
            shape,
            dev,
            repeats,
            cap_s,
            shape[0],
            min_time_s,
        )
        here = []
        for model in models:
            row: dict[str, object] = {"model": model.name, "layout": layout, "shape": list(shape), "T": shape[0]}
            row.update(timed[model.name])
            if row["status"] == "ok":
                row["floor_multiple"] = float(row["total_s"]) / floor_s
            row["copy_bandwidth_gbs"] = bandwidth
            row["floor_s"] = floor_s
            here.append(row)
        reference = {r["model"]: r for r in here if r["status"] == "ok"}
        for row in here:
            if row["status"] == "ok" and "DSN-int" in reference:
                row["time_vs_dsn"] = float(row["total_s"]) / float(reference["DSN-int"]["total_s"])
        rows.extend(here)
        _print_shape(here, layout, shape, bandwidth, floor_s)
        if on_step is not None:
            on_step(result)
    if dev.type == "cpu":  # after every timed round, so its own buffers do not change the allocator's state there
        _add_kernel_loops(rows, plan)
    result["complete"] = True
    if on_step is not None:
        on_step(result)
    return result


def _add_kernel_loops(rows: list[dict[str, object]], plan: list[tuple[str, tuple[int, ...]]]) -> None:
    """Adds ``kernel_loops_s`` (:func:`kernel_loops_seconds`) to every row of each shape and prints it."""
    print("\nDSN-int kernel loops alone (arithmetic on data in L2, one thread's time over the threads):", flush=True)
    per_step_ns: dict[int, float | None] = {}  # the loops depend on T only: timed once per T, for every layout
    for layout, shape in plan:
        if shape[0] not in per_step_ns:
            per_step_ns[shape[0]] = _kernel_loops_ns(shape[0], rounds=5)
        loops = kernel_loops_seconds(shape, torch.get_num_threads(), per_step_ns=per_step_ns[shape[0]])
        if loops is None:
            print("  not measured: the CPU kernels are unavailable", flush=True)
            return
        here = [row for row in rows if row["layout"] == layout and row["T"] == shape[0]]
        for row in here:
            row["kernel_loops_s"] = loops
        floor = float(here[0]["floor_s"])  # type: ignore[arg-type]
        print(f"  {layout} {list(shape)}: {loops * 1e3:.2f} ms, {loops / floor:.2f}x the floor", flush=True)


def _print_shape(
    rows: list[dict[str, object]], layout: str, shape: tuple[int, ...], bandwidth: float, floor: float
) -> None:
    print(f"\n{layout} {list(shape)}: copy {bandwidth:.1f} GB/s, floor {floor * 1e3:.2f} ms", flush=True)
    for row in rows:
        if row["status"] != "ok":
            print(f"  {row['model']:<28} {row['status']}", flush=True)
            continue
        forward, backward = float(row["forward_s"]) * 1e3, float(row["backward_s"]) * 1e3
        print(
            f"  {row['model']:<28} fwd {forward:8.2f} ms  bwd {backward:8.2f} ms"
            f"  total {float(row['total_s']) * 1e3:8.2f} ms  x{row.get('time_vs_dsn', float('nan')):6.2f} vs DSN"
            f"  {float(row['floor_multiple']):5.2f}x floor",
            flush=True,
        )
