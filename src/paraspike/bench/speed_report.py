"""Tables, target checks and the plot for ``paraspike bench speed`` results (a JSON-ready dict)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["markdown_report", "target_checks", "plot_times"]

Result = dict[str, object]


def _rows(result: Result) -> list[dict[str, object]]:
    return result["rows"]  # type: ignore[return-value]


def _find(result: Result, model_prefix: str, neurons: int, steps: int) -> dict[str, object] | None:
    for row in _rows(result):
        if row["model"].startswith(model_prefix) and row["neurons"] == neurons and row["T"] == steps:
            return row
    return None


def _cell(row: dict[str, object] | None) -> str:
    if row is None:
        return "-"
    if row["status"] != "ok":
        return str(row["status"])
    ratio = row.get("time_vs_dsn")
    tail = f" ({ratio:.2f}x)" if isinstance(ratio, float) else ""
    return f"{row['total_s'] * 1e3:.3g} ms{tail}"


def target_checks(result: Result, neurons: int = 1024) -> list[dict[str, object]]:
    """The issue's targets at ``neurons``, each with the measured numbers and a verdict."""
    dsn = str(result["reference"])
    checks: list[dict[str, object]] = []

    def ratio(peer: str, steps: int) -> float | None:
        mine, theirs = _find(result, dsn, neurons, steps), _find(result, peer, neurons, steps)
        if mine is None or theirs is None or mine["status"] != "ok" or theirs["status"] != "ok":
            return None
        return float(theirs["total_s"]) / float(mine["total_s"])

    def add(target: str, value: float | None, passed: bool | None, detail: str) -> None:
        verdict = "not measured" if value is None else ("met" if passed else "MISSED")
        checks.append({"target": target, "value": value, "verdict": f"{verdict} ({detail})"})

    if str(result["machine"]["device"]).startswith("cuda"):  # type: ignore[index]
        _gpu_checks(result, neurons, dsn, ratio, add)
        return checks
    r = ratio("SJ PSN", 16384)
    add("DSN >= 25.6x faster than SJ PSN at T=16384", r, r is not None and r >= 25.6, f"{r or 0:.1f}x; stretch 50x")
    r = ratio("SJ PSN", 32)
    add("DSN not slower than SJ PSN at T=32", r, r is not None and r >= 1.0, f"{r or 0:.2f}x")
    for peer in ("SJ SlidingPSN", "SlidingPSN k=4 [ours, conv form]"):
        values = {t: ratio(peer, t) for t in sorted({int(row["T"]) for row in _rows(result)}) if t >= 128}
        measured = {t: v for t, v in values.items() if v is not None}
        worst = min(measured.values()) if measured else None
        detail = ", ".join(f"T={t}: {v:.2f}x" for t, v in measured.items()) or "none measured"
        add(f"DSN faster than {peer} at every T >= 128", worst, worst is not None and worst > 1.0, detail)
    values = {t: ratio("SJ LIFNode", t) for t in (2048, 8192, 16384, 32768)}
    measured = {t: v for t, v in values.items() if v is not None}
    worst = min(measured.values()) if measured else None
    detail = ", ".join(f"T={t}: {v:.1f}x" for t, v in measured.items()) or "none measured"
    add("DSN >= 20x faster than SJ LIFNode (m) at T >= 2048", worst, worst is not None and worst >= 20, detail)
    mine, psn = _find(result, dsn, neurons, 16384), _find(result, "SJ PSN", neurons, 16384)
    if mine and psn and mine["status"] == "ok" and psn["status"] == "ok" and mine["peak_mib"] and psn["peak_mib"]:
        share = float(mine["peak_mib"]) / float(psn["peak_mib"])
        detail = f"DSN {mine['peak_mib']:.0f} MiB vs PSN {psn['peak_mib']:.0f} MiB = {share:.3f}"
        add("DSN peak memory at T=16384 <= 1/3 of SJ PSN's", share, share <= 1 / 3, detail)
    else:
        add("DSN peak memory at T=16384 <= 1/3 of SJ PSN's", None, None, "not measured")
    return checks


def _gpu_checks(
    result: Result,
    neurons: int,
    dsn: str,
    ratio: Callable[[str, int], float | None],
    add: Callable[[str, float | None, bool | None, str], None],
) -> None:
    """Issue 4's targets on a GPU: 50x over PSN at 16k, faster than SJ's (Triton) LIF at T=32, and the
    fused forward at >= 70% of the copy bandwidth at long T."""
    r = ratio("SJ PSN", 16384)
    add("DSN >= 50x faster than SJ PSN at T=16384", r, r is not None and r >= 50, f"{r or 0:.1f}x")
    r = ratio("SJ LIFNode", 32)
    add("DSN faster than SJ LIFNode (m) at T=32", r, r is not None and r > 1.0, f"{r or 0:.2f}x")
    copy = float(result.get("copy_bandwidth_gbs") or 0)  # type: ignore[arg-type]
    longest = [r for r in _rows(result) if r["model"] == dsn and r["neurons"] == neurons and "forward_gbs" in r]
    if copy > 0 and longest:
        row = max(longest, key=lambda item: int(item["T"]))
        share = float(row["forward_gbs"]) / copy
        detail = f"T={row['T']}: {row['forward_gbs']:.0f} GB/s of {copy:.0f} GB/s copy = {share:.0%}"
        add("DSN forward >= 70% of copy bandwidth at long T", share, share >= 0.7, detail)
    else:
        add("DSN forward >= 70% of copy bandwidth at long T", None, None, "not measured")


def markdown_report(result: Result) -> str:
    """Markdown: machine, the targets, and one table of forward+backward times per neuron count."""
    machine = result["machine"]
    lines = [
        "# `paraspike bench speed` results",
        "",
        f"Command: `{result.get('command', 'paraspike bench speed')}`  ",
        f"Date: {result['date']}; device: {machine['device']} ({machine.get('gpu') or machine['cpu']}, "
        f"{machine['threads']} threads); torch {machine['torch']}.  ",
        f"Input {result['input']}. Forward+backward, median of at least {result['repeats']} runs "
        f"and {result.get('min_time_s', 0)} s of runs (at most 200) after warm-up; "
        f"cap {result['cap_s']} s per configuration. In brackets: time relative to `{result['reference']}` "
        "(above 1 = slower than the DSN).",
        "",
    ]
    if result.get("allocator"):
        lines += [f"Allocator: {result['allocator']}.", ""]
    if not result.get("complete", True):
        lines += ["**Partial results: the run was still going or was stopped.**", ""]
    if result.get("targets"):
        lines += ["## Targets (1024 neurons)", "", "| target | verdict |", "|---|---|"]
        lines += [f"| {t['target']} | {t['verdict']} |" for t in result["targets"]]  # type: ignore[union-attr]
        lines.append("")
    models = list(result["models"])  # type: ignore[arg-type]
    for neurons in sorted({int(r["neurons"]) for r in _rows(result)}):
        lengths = sorted({int(r["T"]) for r in _rows(result) if r["neurons"] == neurons})
        lines += [f"## {neurons} neurons: forward+backward time", ""]
        lines.append("| model | " + " | ".join(f"T={t}" for t in lengths) + " |")
        lines.append("|---|" + "---|" * len(lengths))
        for model in models:
            cells = [_cell(_find(result, model, neurons, t)) for t in lengths]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines += ["", f"Peak memory above the inputs at {neurons} neurons (MiB):", ""]
        lines.append("| model | " + " | ".join(f"T={t}" for t in lengths) + " |")
        lines.append("|---|" + "---|" * len(lengths))
        for model in models:
            cells = []
            for t in lengths:
                row = _find(result, model, neurons, t)
                ok = row is not None and row["status"] == "ok" and row["peak_mib"] is not None
                cells.append(f"{row['peak_mib']:.0f}" if ok else "-")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += _bandwidth_lines(result, neurons, lengths)
    lines += ["## Models", ""]
    for name, info in result["models"].items():  # type: ignore[union-attr]
        lines.append(f"- **{name}** ({info['family']}): {info['note']}")
    for note in result.get("notes", []):  # type: ignore[union-attr]
        lines.append(f"- note: {note}")
    return "\n".join(lines) + "\n"


def _bandwidth_lines(result: Result, neurons: int, lengths: list[int]) -> list[str]:
    """The fused DSN forward's memory traffic (12 bytes per neuron-step) against the copy bandwidth."""
    copy = result.get("copy_bandwidth_gbs")
    fused = [m for m, info in result["models"].items() if "fused kernel" in info["note"]]  # type: ignore[union-attr]
    if not copy or not fused:
        return []
    lines = [
        f"Fused DSN forward traffic at {neurons} neurons (read x, write spikes and H: 12 bytes per "
        f"neuron-step), GB/s and share of the measured copy bandwidth ({float(copy):.1f} GB/s):",  # type: ignore[arg-type]
        "",
        "| model | " + " | ".join(f"T={t}" for t in lengths) + " |",
        "|---|" + "---|" * len(lengths),
    ]
    for model in fused:
        cells = []
        for t in lengths:
            row = _find(result, model, neurons, t)
            gbs = None if row is None else row.get("forward_gbs")
            cells.append("-" if gbs is None else f"{gbs:.1f} ({float(gbs) / float(copy):.0%})")  # type: ignore[arg-type]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot_times(result: Result, path: Path) -> bool:
    """Log-log plot of forward+backward time against T, one panel per neuron count; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    counts = sorted({int(r["neurons"]) for r in _rows(result)})
    fig, axes = plt.subplots(1, len(counts), figsize=(7 * len(counts), 5.5), squeeze=False)
    for ax, neurons in zip(axes[0], counts, strict=True):
        for model in result["models"]:  # type: ignore[union-attr]
            points = [
                (int(r["T"]), float(r["total_s"]))
                for r in _rows(result)
                if r["model"] == model and r["neurons"] == neurons and r["status"] == "ok"
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                style = "-o" if model.startswith("DSN") else ("--s" if model.startswith("SJ") else ":^")
                ax.plot(xs, ys, style, label=model, markersize=4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("forward + backward time (s)")
        ax.set_title(f"{neurons} neurons, {result['machine']['device']}")  # type: ignore[index]
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
