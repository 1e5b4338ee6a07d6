"""The neurons ``paraspike bench speed`` times: the DSN on every backend and the peers.

Each entry builds a module for ``T`` steps on ``device``; the input is ``[T, 8, neurons / 8]``
(``B = 8``, ``C = neurons / 8``; the PSN family and LIF see the same ``T x neurons`` values).
SpikingJelly 2.0.0 entries are skipped (with the reason) when it is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from paraspike.bench.common import spikingjelly_lif_implementation
from paraspike.neurons import DSN, LIF, PSN, MaskedPSN, SlidingPSN
from paraspike.ops import available_scan_backends

__all__ = ["BenchModel", "bench_models", "BATCH", "ORDER"]

BATCH = 8  # neurons = BATCH x channels
ORDER = 4  # k of the masked and sliding PSN (the DSN's conv has 4 taps too)


@dataclass(frozen=True)
class BenchModel:
    """A benchmarked neuron: ``build(T, channels, device) -> module`` and what it is."""

    name: str
    family: str  # "dsn", "paraspike baseline" or "spikingjelly 2.0.0"
    build: Callable[[int, int, torch.device], nn.Module]
    note: str = ""


def _dsn_models(device: torch.device) -> list[BenchModel]:
    models = []
    for backend in available_scan_backends(device):
        if device.type == "cpu" and backend in ("triton", "fla"):
            continue  # Triton's interpreter (TRITON_INTERPRET=1) is a correctness tool, not a speed path
        for mode, spikes in (("int", 4), ("bin", 1)):
            if backend == "naive" and mode == "bin":
                continue  # the naive reference is timed once, in integer mode

            def build(T: int, c: int, d: torch.device, backend: str = backend, spikes: int = spikes) -> nn.Module:
                return DSN(c, max_spike=spikes, backend=backend).to(d)

            fused = backend in ("cpu", "triton")
            note = "fused kernel: conv+decay+scan+firing" if fused else f"{backend} scan + PyTorch ops"
            models.append(BenchModel(f"DSN-{mode} [{backend}]", "dsn", build, note))
    return models


def _own_baselines() -> list[BenchModel]:
    return [
        BenchModel("LIF [ours, loop]", "paraspike baseline", lambda T, c, d: LIF().to(d), "hard reset, loop over T"),
        BenchModel(
            "LIF no-reset [ours, scan]",
            "paraspike baseline",
            lambda T, c, d: LIF(reset="none").to(d),
            "linear: parallel scan",
        ),
        BenchModel("PSN [ours]", "paraspike baseline", lambda T, c, d: PSN(T).to(d), "T x T weight"),
        BenchModel(
            f"MaskedPSN k={ORDER} [ours, banded]",
            "paraspike baseline",
            lambda T, c, d: MaskedPSN(ORDER, T, lambda_init=1.0).to(d),
            "fully masked: k taps per step",
        ),
        BenchModel(
            f"SlidingPSN k={ORDER} [ours, conv form]",
            "paraspike baseline",
            lambda T, c, d: SlidingPSN(ORDER).to(d),
            "k-tap causal filter",
        ),
    ]


def _spikingjelly_models(device: torch.device) -> tuple[list[BenchModel], str | None]:
    lif_note = f"multi-step, {spikingjelly_lif_implementation(device)}"  # on CUDA: its Triton LIF
    try:
        from spikingjelly.activation_based import neuron as sj
    except Exception as error:  # not installed, or its optional imports fail
        return [], f"spikingjelly not importable ({error}); pip install --no-deps spikingjelly==2.0.0 loguru"
    return [
        BenchModel("SJ PSN", "spikingjelly 2.0.0", lambda T, c, d: sj.PSN(T).to(d), "T x T weight (gemm)"),
        BenchModel(
            f"SJ MaskedPSN k={ORDER}",
            "spikingjelly 2.0.0",
            lambda T, c, d: sj.MaskedPSN(ORDER, T, lambda_init=1.0, step_mode="m").to(d),
            "T x T masked gemm",
        ),
        BenchModel(
            f"SJ SlidingPSN k={ORDER}",
            "spikingjelly 2.0.0",
            lambda T, c, d: sj.SlidingPSN(ORDER, step_mode="m").to(d),
            "as shipped: T x T gemm weight built by a Python loop (2.0.0 has no conv backend)",
        ),
        BenchModel("SJ LIFNode (m)", "spikingjelly 2.0.0", lambda T, c, d: sj.LIFNode(step_mode="m").to(d), lif_note),
    ], None


def bench_models(device: torch.device) -> tuple[list[BenchModel], list[str]]:
    """All benchmark models for ``device`` and notes on what was left out."""
    notes = []
    peers, reason = _spikingjelly_models(device)
    if reason:
        notes.append(reason)
    return _dsn_models(device) + _own_baselines() + peers, notes
