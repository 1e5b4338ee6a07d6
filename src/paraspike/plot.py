"""Raster plots and membrane traces (matplotlib, imported on first use).

>>> from paraspike.plot import raster, membrane_trace
>>> raster(spikes)                         # spikes [T, N] (or [T, B, N]: sample 0), counts drawn by size
>>> membrane_trace(h, spikes, threshold=1.0)  # h, spikes [T] (one neuron)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["raster", "membrane_trace"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 3))[1]


def _as_2d(spikes: Tensor) -> Tensor:
    spikes = torch.as_tensor(spikes).detach().float().cpu()
    if spikes.dim() == 1:
        return spikes.unsqueeze(1)
    if spikes.dim() == 2:
        return spikes
    if spikes.dim() >= 3:  # [T, B, ...]: the first sample, neurons flattened
        return spikes[:, 0].reshape(spikes.shape[0], -1)
    raise ValueError(f"spikes must be [T], [T, N] or [T, B, ...], got shape {tuple(spikes.shape)}")


def raster(
    spikes: Tensor, ax: Any = None, max_neurons: int = 200, color: str = "black", title: str | None = None
) -> Any:
    """A raster plot of ``spikes`` ``[T, N]`` (``[T, B, ...]``: sample 0, neurons flattened): one row
    per neuron, a mark at every step with a spike, its size growing with an integer count. Returns the
    axes."""
    grid = _as_2d(spikes)[:, :max_neurons]
    ax = _axes(ax)
    steps, neurons = torch.nonzero(grid, as_tuple=True)
    counts = grid[steps, neurons]
    top = float(grid.max()) if grid.numel() else 1.0
    sizes = 12 * (counts / max(top, 1.0)).numpy() + 4
    ax.scatter(steps.numpy(), neurons.numpy(), s=sizes, marker="|", color=color, linewidths=1)
    ax.set_xlim(-0.5, grid.shape[0] - 0.5)
    ax.set_ylim(-0.5, grid.shape[1] - 0.5)
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return ax


def membrane_trace(
    potential: Tensor,
    spikes: Tensor | None = None,
    threshold: float | None = None,
    ax: Any = None,
    label: str = "membrane",
    color: str = "tab:blue",
) -> Any:
    """One neuron's membrane potential ``[T]`` with the threshold (dashed) and its spikes (marks under
    the trace, labelled with the count when above 1). Returns the axes."""
    h = torch.as_tensor(potential).detach().float().cpu().flatten()
    ax = _axes(ax)
    ax.plot(range(h.numel()), h.numpy(), color=color, linewidth=1, label=label)
    if threshold is not None:
        ax.axhline(threshold, color="0.5", linestyle="--", linewidth=0.8, label="threshold")
    if spikes is not None:
        s = torch.as_tensor(spikes).detach().float().cpu().flatten()
        low = float(h.min()) - 0.1 * (float(h.max() - h.min()) or 1.0)
        times = torch.nonzero(s).flatten()
        ax.vlines(times.numpy(), low - 0.1, low, color=color, linewidth=1)
        for t in times.tolist():
            if s[t] > 1:
                ax.annotate(f"{int(s[t])}", (t, low - 0.1), fontsize=6, ha="center", va="top")
    ax.set_xlabel("time step")
    ax.set_ylabel("potential")
    return ax
