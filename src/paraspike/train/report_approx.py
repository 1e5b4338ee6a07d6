"""The approximation study's tables and figures (``results/approximation/results.json`` ->
``docs/results.md`` section, ``results/approximation/traces_<input>.png``).

Tables: per input kind, one row per target with its silent-output accuracy, then each model's F1 and
accuracy (mean +- std over seeds); integer mode (DSN, N = 4) with its count accuracy; the window-``k``
ablation; the van Rossum distance relative to the silent output.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from paraspike.train.report import mean_std

__all__ = ["summarize", "approximation_section", "plot_traces"]


def summarize(records: list[dict[str, Any]], measure: str) -> dict[tuple[str, str, str, int], tuple[float, float]]:
    """``(input, target, model, k) -> (mean, std)`` of ``measure`` over seeds."""
    groups: dict[tuple[str, str, str, int], list[float]] = {}
    for r in records:
        key = (r["input"], r["target"], r["model"], r["kernel_size"])
        groups.setdefault(key, []).append(r["metrics"][measure])
    return {key: mean_std(values) for key, values in groups.items()}


def _cell(
    stats: dict[tuple[str, str, str, int], tuple[float, float]], key: tuple[str, str, str, int], scale: float = 1.0
) -> str:
    if key not in stats:
        return ""
    mean, std = stats[key]
    return f"{scale * mean:.2f} +- {scale * std:.2f}" if scale != 1.0 else f"{mean:.3f} +- {std:.3f}"


def _targets(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["target"] for r in records))


def _silent(records: list[dict[str, Any]], kind: str, target: str, mode: str) -> str:
    values = [
        r["metrics"]["silent_accuracy"] for r in records if (r["input"], r["target"], r["mode"]) == (kind, target, mode)
    ]
    return f"{100 * statistics.mean(values):.1f}" if values else ""


def _grid_table(
    records: list[dict[str, Any]], kind: str, models: list[str], k: int, measure: str, scale: float
) -> list[str]:
    stats = summarize(records, measure)
    lines = [
        "| target | silent acc. (%) | " + " | ".join(models) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for target in _targets(records):
        mode = "integer" if models == ["dsn-int"] else "binary"
        cells = [_cell(stats, (kind, target, m, k), scale) for m in models]
        lines.append(f"| {target} | {_silent(records, kind, target, mode)} | " + " | ".join(cells) + " |")
    return lines


def approximation_section(document: dict[str, Any], results: Path) -> list[str]:
    """The ``docs/results.md`` section of the approximation study."""
    config = document["config"]
    main = [r for r in document["records"] if not r["ablation"]]
    ablation_keys = {
        (r["input"], r["target"], r["model"], r["mode"], r["seed"]) for r in document["records"] if r["ablation"]
    }
    ablation = [r for r in document["records"] if r["ablation"]] + [
        r for r in main if (r["input"], r["target"], r["model"], r["mode"], r["seed"]) in ablation_keys
    ]
    seeds = sorted({r["seed"] for r in main})
    models = [m for m in config["models"] if any(r["model"] == m for r in main)]
    fit = config["fit"]
    lines = [
        "## Approximation study: a reset-free DSN against LIF neurons with reset",
        "",
        f"Each target is an LIF neuron (decay_input, V_th 1, reset to 0 or by subtraction) driven by input "
        f"currents scaled so it fires {config['target_rate']:.0%} of steps on the training sequences; one neuron "
        f"(its input standardised with the training statistics, then a learned gain and offset) is fitted to its "
        f"spikes from the same input: "
        f"{config['train_sequences']} training / {config['test_sequences']} test sequences of {config['steps']} "
        f"steps, {fit['steps']} full-batch Adam steps (lr {fit['lr']:g}, cosine), loss = spike MSE + van Rossum "
        f"(tau {fit['vr_tau']:g}) MSE; seeds {','.join(map(str, seeds))} (each draws new data and a new "
        f"initialisation); DSN and sliding PSN window k = {config['kernel_size']}. Integer mode: the target runs "
        f"{config['max_spike']} fine steps per DSN step and the DSN (N = {config['max_spike']}) must emit the "
        f"window's spike count. Rerun: `paraspike approx --config configs/approximation.yaml` "
        f"(one thread, {sum(r['seconds'] for r in document['records']) / 60:.0f} min of fitting). Models: "
        "dsn (causal-conv decay), sliding-psn (fixed k-tap filter), psn (T x T weights), lif-noreset (learned "
        "leak, no reset), plif (learned leak with the target's own reset: the target's family, a ceiling).",
        "",
        "Accuracy is the fraction of steps whose output equals the target's; at sparse firing a silent output "
        "already scores the 'silent acc.' column, so F1 on spikes (2 sum min(S, S*) / (sum S + sum S*)) is "
        "the measure to read. Figures: "
        + ", ".join(f"[{k}](../{results}/traces_{k}.png)" for k in config["inputs"])
        + " (one test window, seed 0).",
        "",
    ]
    for kind in config["inputs"]:
        lines += [
            f"### {kind} input: F1 on spikes (binary)",
            "",
            *_grid_table(main, kind, models, config["kernel_size"], "f1", 1.0),
            "",
        ]
        lines += [
            f"### {kind} input: spike accuracy (%, binary)",
            "",
            *_grid_table(main, kind, models, config["kernel_size"], "accuracy", 100.0),
            "",
        ]
        lines += [
            f"### {kind} input: van Rossum distance relative to the silent output "
            "(binary; 0 exact, 1 no better than silence)",
            "",
            *_grid_table(main, kind, models, config["kernel_size"], "van_rossum_relative", 1.0),
            "",
        ]
    lines += [
        f"### Integer spikes (DSN, N = {config['max_spike']}): count accuracy (%) and F1 on counts",
        "",
        "| input | target | silent acc. (%) | count accuracy (%) | F1 |",
        "|---|---|---|---|---|",
    ]
    accuracy, f1 = summarize(main, "accuracy"), summarize(main, "f1")
    for kind in config["inputs"]:
        for target in _targets(main):
            key = (kind, target, "dsn-int", config["kernel_size"])
            if key in accuracy:
                lines.append(
                    f"| {kind} | {target} | {_silent(main, kind, target, 'integer')} | {_cell(accuracy, key, 100.0)} "
                    f"| {_cell(f1, key)} |"
                )
    if ablation:
        sizes = sorted({r["kernel_size"] for r in ablation})
        stats = summarize(ablation, "f1")
        lines += [
            "",
            f"### Window k ablation ({', '.join(config['ablation']['inputs'])} input): F1 per target and model",
            "",
            "| input | target | model | " + " | ".join(f"k = {k}" for k in sizes) + " |",
            "|---|---|---|" + "---|" * len(sizes),
        ]
        for kind in config["ablation"]["inputs"]:
            for target in _targets(ablation):
                for model in config["ablation"]["models"]:
                    cells = [_cell(stats, (kind, target, model, k)) for k in sizes]
                    lines.append(f"| {kind} | {target} | {model} | " + " | ".join(cells) + " |")
    return lines


def plot_traces(document: dict[str, Any], out: Path) -> list[Path]:
    """Per input kind, one column per target: the input, the target's membrane and spikes, the binary
    DSN's membrane and spikes on the first test sequence (seed 0)."""
    from paraspike.train.report_figures import _pyplot, save_figure

    plt = _pyplot()
    if plt is None:
        return []
    written = []
    config = document["config"]
    for kind in config["inputs"]:
        traced = [r for r in document["records"] if r["input"] == kind and "trace" in r and r["mode"] == "binary"]
        targets = _targets([r for r in traced if r["model"] == "dsn"])
        if not targets:
            continue
        fig, axes = plt.subplots(3, len(targets), figsize=(3.2 * len(targets), 6.5), squeeze=False, sharex=True)
        for column, target in enumerate(targets):
            dsn = next(r for r in traced if r["target"] == target and r["model"] == "dsn")
            trace = dsn["trace"]
            steps = range(len(trace["input"]))
            axes[0][column].plot(steps, trace["input"], color="0.3", linewidth=0.8)
            axes[0][column].set_title(f"{target} (input x{dsn['input_scale']:.2f})", fontsize=8)
            axes[1][column].plot(steps, trace["target_membrane"], color="tab:blue", linewidth=0.8)
            axes[1][column].axhline(1.0, color="0.6", linestyle="--", linewidth=0.6)
            _spike_ticks(axes[1][column], trace["target_spikes"], "tab:blue")
            axes[2][column].plot(steps, trace["membrane"], color="tab:orange", linewidth=0.8)
            axes[2][column].axhline(0.5, color="0.6", linestyle="--", linewidth=0.6)
            _spike_ticks(axes[2][column], trace["spikes"], "tab:orange")
            _spike_ticks(axes[2][column], trace["target_spikes"], "tab:blue", low=True)
            axes[2][column].set_xlabel("step")
        axes[0][0].set_ylabel("input current")
        axes[1][0].set_ylabel("target LIF: h, spikes")
        axes[2][0].set_ylabel("DSN: H, spikes\n(blue: target)")
        fig.suptitle(f"{kind} input: binary DSN (k = {config['kernel_size']}) fitted to LIF targets", fontsize=10)
        path = out / f"traces_{kind}.png"
        save_figure(fig, path, dpi=100)
        written.append(path)
    return written


def _spike_ticks(ax: Any, spikes: list[float], color: str, low: bool = False) -> None:
    bottom, top = ax.get_ylim()
    height = top - bottom
    level = bottom - (0.16 if low else 0.08) * height
    times = [t for t, s in enumerate(spikes) if s > 0]
    ax.vlines(times, level, level + 0.06 * height, color=color, linewidth=0.8)
    ax.set_ylim(bottom - 0.2 * height, top)
