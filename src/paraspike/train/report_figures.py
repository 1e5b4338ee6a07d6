"""Figures of the experiment report (matplotlib, optional: without it no figure is drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_accuracy", "plot_forecasts", "plot_extrapolation", "save_figure"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Lay ``fig`` out, write it to ``path`` (making its folder) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_accuracy(rows: list[dict[str, Any]], path: Path) -> None:
    """Bars of test accuracy (mean, std error bars) per run, one panel per group."""
    plt = _pyplot()
    groups = list(dict.fromkeys(r["group"] for r in rows))
    if plt is None or not groups:
        return
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        mine = [r for r in rows if r["group"] == group]
        names = [r["run"].name.split("-", 1)[1] for r in mine]
        means = [100 * r["metrics"]["acc"][0] for r in mine]
        ax.bar(names, means, yerr=[100 * r["metrics"]["acc"][1] for r in mine], capsize=3)
        ax.set_title(group)
        ax.set_ylabel("test accuracy (%)")
        ax.tick_params(axis="x", rotation=60)
        ax.set_ylim(max(0, min(means) - 10), 100)
    save_figure(fig, path)


def plot_forecasts(rows: list[dict[str, Any]], variants: tuple[str, ...], path: Path) -> None:
    """One panel per horizon: the first test window's last variable (history, truth) and the seed-0
    forecasts of ``variants``, in normalised units."""
    plt = _pyplot()
    groups = list(dict.fromkeys(r["group"] for r in rows))
    if plt is None or not groups:
        return
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 3.6), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        mine = [r for r in rows if r["group"] == group]
        example = next(iter(mine[0]["examples"].values()))
        history = [step[-1] for step in example["input"]]
        truth = [step[-1] for step in example["target"]]
        future = range(len(history), len(history) + len(truth))
        ax.plot(range(len(history)), history, color="0.5", label="history")
        ax.plot(future, truth, color="black", linewidth=2, label="truth")
        for r in mine:
            variant = r["run"].variant
            if variant.removeprefix("revin-") in variants and r["examples"].get(0):
                prediction = [step[-1] for step in r["examples"][0]["prediction"]]
                label = f"{variant.removeprefix('revin-')} + RevIN" if variant.startswith("revin-") else variant
                ax.plot(future, prediction, label=label)
        variable = mine[0]["data"]["variables"][-1]
        ax.set_title(f"{group.removeprefix('forecast-')}: {variable}, first test window")
        ax.set_xlabel("time step")
        ax.set_ylabel("normalised value")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def plot_extrapolation(rows: list[dict[str, Any]], path: Path) -> None:
    """Bits per token against the evaluation length (log scale), mean and spread over seeds, one line
    per run; the streaming pass as a dotted level in the same colour."""
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4.2))
    context = None
    for r in rows:
        studies = [m["extrapolation"] for m in r["found"] if m.get("extrapolation")]
        if not studies:
            continue
        context = r["budget"]["data"]["context"]
        lengths = sorted({int(n) for s in studies for n in s["fresh"]})
        means, spreads = [], []
        for n in lengths:
            values = [s["fresh"][str(n)]["bits"] for s in studies if str(n) in s["fresh"]]
            means.append(sum(values) / len(values))
            spreads.append((max(values) - min(values)) / 2)
        line = ax.errorbar(lengths, means, yerr=spreads, marker="o", capsize=3, label=r["run"].variant or r["run"].name)
        streams = [s["stream"]["bits"] for s in studies if "stream" in s]
        if streams:
            ax.axhline(sum(streams) / len(streams), linestyle=":", color=line[0].get_color(), linewidth=1)
    if context is not None:
        ax.axvline(context, color="0.6", linestyle="--", linewidth=1, label=f"training context {context}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("evaluation length L (tokens, fresh state per segment)")
    ax.set_ylabel("bits per token (test)")
    ax.set_title("length extrapolation (dotted: one pass with the state carried)")
    ax.legend(fontsize=7)
    save_figure(fig, path)
