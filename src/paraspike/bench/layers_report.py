"""Tables, target checks and the plot of the layer suite (``paraspike bench speed --suite layers``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["layer_targets", "layer_markdown", "plot_layers", "KERNEL_LOOPS_NOTE"]

Result = dict[str, object]

# What the "kernel loops alone" row is (this report and docs/benchmarks.md).
KERNEL_LOOPS_NOTE = (
    "the DSN-int fused kernel's forward and backward loops on a layer of 32 K neuron-steps whose streams stay in "
    "L2, one thread, no dispatcher, autograd or allocator (as `python -m paraspike.bench.strip_cycles`), scaled "
    "to the shape and divided by the threads: the layer's time if memory cost nothing, a lower bound."
)


def _rows(result: Result) -> list[dict[str, object]]:
    return result["rows"]  # type: ignore[return-value]


def _find(result: Result, model: str, layout: str, steps: int) -> dict[str, object] | None:
    for row in _rows(result):
        if row["model"] == model and row["layout"] == layout and row["T"] == steps:
            return row
    return None


def layer_targets(result: Result) -> list[dict[str, object]]:
    """The speed issue's layer targets, each with the measured numbers and a verdict: the DSN (integer
    and binary) at least as fast as every SpikingJelly neuron at every shape with T >= 2, and within
    2x (stretch 1.3x) of the memory-traffic floor there."""
    checks: list[dict[str, object]] = []
    peers = [m for m, info in result["models"].items() if str(info["family"]).startswith("spikingjelly")]  # type: ignore[union-attr]
    shapes = sorted({(str(r["layout"]), int(r["T"])) for r in _rows(result) if int(r["T"]) >= 2})
    for dsn in ("DSN-int", "DSN-bin"):
        worst: tuple[float, str] | None = None
        for layout, steps in shapes:
            mine = _find(result, dsn, layout, steps)
            for peer in peers:
                theirs = _find(result, peer, layout, steps)
                if mine and theirs and mine["status"] == "ok" and theirs["status"] == "ok":
                    ratio = float(theirs["total_s"]) / float(mine["total_s"])
                    if worst is None or ratio < worst[0]:
                        worst = (ratio, f"{peer} at {layout} T={steps}")
        verdict = "not measured" if worst is None else ("met" if worst[0] >= 1.0 else "MISSED")
        detail = "" if worst is None else f"slowest peer relative to the DSN: {worst[0]:.2f}x ({worst[1]})"
        checks.append(
            {
                "target": f"{dsn} at least as fast as every SpikingJelly neuron at every layer shape with T >= 2",
                "value": None if worst is None else worst[0],
                "verdict": f"{verdict} ({detail})",
            }
        )
        multiples = [
            (float(row["floor_multiple"]), f"{layout} T={steps}")
            for layout, steps in shapes
            if (row := _find(result, dsn, layout, steps)) is not None and row["status"] == "ok"
        ]
        if multiples:
            worst_floor = max(multiples)
            verdict = "met" if worst_floor[0] <= 2.0 else "MISSED"
            stretch = "stretch met" if worst_floor[0] <= 1.3 else "stretch not met"
            detail = f"worst {worst_floor[0]:.2f}x at {worst_floor[1]}; best {min(multiples)[0]:.2f}x; {stretch}"
            loops = _loops_multiples(result, dsn, shapes)
            if loops:
                most, where_most = max(loops)
                above = ", ".join(where for multiple, where in loops if multiple > 2.0) or "none"
                detail += (
                    f"; the DSN-int kernel's loops alone, memory free: {most:.2f}x the floor at {where_most}, "
                    f"shapes above 2x: {above}"
                )
        else:
            verdict, detail, worst_floor = "not measured", "", (None, "")
        checks.append(
            {
                "target": f"{dsn} within 2x of the memory-traffic floor at every layer shape with T >= 2 "
                "(stretch 1.3x)",
                "value": worst_floor[0],
                "verdict": f"{verdict} ({detail})",
            }
        )
    return checks


def _loops_multiples(result: Result, dsn: str, shapes: list[tuple[str, int]]) -> list[tuple[float, str]]:
    """The DSN-int kernel's loops alone (arithmetic, memory free) as multiples of the floor, where measured
    (the same for both DSN rows: DSN-bin's loops do a little less)."""
    return [
        (float(row["kernel_loops_s"]) / float(row["floor_s"]), f"{layout} T={steps}")
        for layout, steps in shapes
        if (row := _find(result, dsn, layout, steps)) is not None and "kernel_loops_s" in row
    ]


def _loops_cell(row: dict[str, object]) -> str:
    loops = float(row["kernel_loops_s"])  # type: ignore[arg-type]
    return f"{loops * 1e3:.3g} ms [{loops / float(row['floor_s']):.1f}]"  # type: ignore[arg-type]


def _cell(row: dict[str, object] | None) -> str:
    if row is None:
        return "-"
    if row["status"] != "ok":
        return str(row["status"])
    ratio = row.get("time_vs_dsn")
    text = f"{float(row['total_s']) * 1e3:.3g} ms"
    if isinstance(ratio, float):
        text += f" ({ratio:.2f}x)"
    return text + f" [{float(row['floor_multiple']):.1f}]"


def layer_markdown(result: Result) -> str:
    machine = result["machine"]
    lines = [
        "# `paraspike bench speed --suite layers` results",
        "",
        f"Command: `{result.get('command', 'paraspike bench speed --suite layers')}`  ",
        f"Date: {result['date']}; device: {machine['device']} ({machine.get('gpu') or machine['cpu']}, "  # type: ignore[index]
        f"{machine['threads']} threads); torch {machine['torch']}.  ",  # type: ignore[index]
        f"One neuron layer, float32, forward+backward; models timed interleaved (each round runs every model "
        f"once), medians of at least {result['repeats']} rounds and {result['min_time_s']} s of runs per model "
        "after warm-up. Cells: time (relative to DSN-int; above 1 = slower "
        f"than the DSN) [multiple of the memory-traffic floor: {result['floor_bytes_per_neuron_step']} bytes per "
        "neuron-step over the bandwidth of a copy that moves as many bytes, measured in the same run].",
        "",
    ]
    if any("kernel_loops_s" in row for row in _rows(result)):
        lines += [
            f"Kernel loops alone: {KERNEL_LOOPS_NOTE}",
            "",
        ]
    if result.get("allocator"):
        lines += [f"Allocator: {result['allocator']}.", ""]
    if not result.get("complete", True):
        lines += ["**Partial results: the run was still going or was stopped.**", ""]
    if result.get("targets"):
        lines += ["## Targets", "", "| target | verdict |", "|---|---|"]
        lines += [f"| {t['target']} | {t['verdict']} |" for t in result["targets"]]  # type: ignore[union-attr]
        lines.append("")
    for layout in sorted({str(r["layout"]) for r in _rows(result)}):
        steps = sorted({int(r["T"]) for r in _rows(result) if r["layout"] == layout})
        shape = next(r["shape"] for r in _rows(result) if r["layout"] == layout)
        lines += [f"## {layout} layer, shape [T, {', '.join(str(s) for s in shape[1:])}]", ""]  # type: ignore[index]
        lines.append("| model | " + " | ".join(f"T={t}" for t in steps) + " |")
        lines.append("|---|" + "---|" * len(steps))
        for model in result["models"]:  # type: ignore[union-attr]
            lines.append(f"| {model} | " + " | ".join(_cell(_find(result, model, layout, t)) for t in steps) + " |")
        floors = [_find(result, "DSN-int", layout, t) for t in steps]
        lines.append(
            "| *copy bandwidth (GB/s) / floor* | "
            + " | ".join(
                "-" if r is None else f"{r['copy_bandwidth_gbs']:.0f} / {float(r['floor_s']) * 1e3:.2f} ms"
                for r in floors
            )
            + " |"
        )
        if any(r is not None and "kernel_loops_s" in r for r in floors):
            lines.append(
                "| *DSN-int kernel loops alone (arithmetic, memory free) [multiple of the floor]* | "
                + " | ".join("-" if r is None or "kernel_loops_s" not in r else _loops_cell(r) for r in floors)
                + " |"
            )
        lines.append("")
        lines += _fault_table(result, layout, steps)
    lines += ["## Models", ""]
    for name, info in result["models"].items():  # type: ignore[union-attr]
        lines.append(f"- **{name}** ({info['family']}): {info['note'] or '-'}")
    for note in result.get("notes", []):  # type: ignore[union-attr]
        lines.append(f"- note: {note}")
    return "\n".join(lines) + "\n"


def _fault_table(result: Result, layout: str, steps: list[int]) -> list[str]:
    """Minor page faults per forward+backward (mean over the timed runs), where the run recorded them."""
    found = [r for r in _rows(result) if r["layout"] == layout and "page_faults" in r]
    if not found:
        return []
    lines = [
        f"Page faults per forward + backward, {layout} (mean over the timed runs; each a fresh page the "
        "kernel zeroes on first touch):",
        "",
        "| model | " + " | ".join(f"T={t}" for t in steps) + " |",
        "|---|" + "---|" * len(steps),
    ]
    for model in result["models"]:  # type: ignore[union-attr]
        cells = []
        for t in steps:
            row = _find(result, model, layout, t)
            cells.append("-" if row is None or "page_faults" not in row else f"{float(row['page_faults']):.0f}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot_layers(result: Result, path: Path) -> bool:
    """Time against T per model, one panel per layout (log-log); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    layouts = sorted({str(r["layout"]) for r in _rows(result)})
    fig, axes = plt.subplots(1, len(layouts), figsize=(7 * len(layouts), 5.5), squeeze=False)
    for ax, layout in zip(axes[0], layouts, strict=True):
        for model in result["models"]:  # type: ignore[union-attr]
            points = [
                (int(r["T"]), float(r["total_s"]) * 1e3)
                for r in _rows(result)
                if r["model"] == model and r["layout"] == layout and r["status"] == "ok"
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                style = "-o" if model.startswith("DSN") else ("--s" if model.startswith("SJ") else ":^")
                ax.plot(xs, ys, style, label=model, markersize=4)
        floor = [
            (int(r["T"]), float(r["floor_s"]) * 1e3)
            for r in _rows(result)
            if r["layout"] == layout and r["model"] == "DSN-int"
        ]
        if floor:
            xs, ys = zip(*floor, strict=True)
            ax.plot(xs, ys, "k-", linewidth=3, alpha=0.3, label="memory-traffic floor")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("time steps T")
        ax.set_ylabel("forward + backward time (ms)")
        ax.set_title(f"{layout} layer, {result['machine']['device']}")  # type: ignore[index]
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
