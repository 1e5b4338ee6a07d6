"""``python -m paraspike.bench.report``: writes ``docs/benchmarks.md`` from the committed benchmark JSON
under ``results/`` (so the page shows what the runs measured, nothing copied by hand)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from paraspike.bench.layers_report import KERNEL_LOOPS_NOTE

__all__ = ["write_benchmarks_page"]

RESULTS = Path("results")


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g} ms" if ms < 1000 else f"{seconds:.3g} s"


def _lengths_section(result: dict, neurons: int, models: list[str]) -> list[str]:
    rows = [r for r in result["rows"] if r["neurons"] == neurons]
    return _model_by_steps(rows, models, lambda row: f"{_ms(row['total_s'])} ({row.get('time_vs_dsn', 1.0):.2f}x)")


def _model_by_steps(rows: list[dict], models: list[str], cell: Callable[[dict], str]) -> list[str]:
    """A table with a row per model and a column per T: ``cell(row)`` for a finished measurement, its
    status otherwise, ``-`` where none was taken."""
    steps = sorted({r["T"] for r in rows})
    lines = ["| model | " + " | ".join(f"T={t}" for t in steps) + " |", "|---|" + "---|" * len(steps)]
    for model in models:
        cells = []
        for t in steps:
            row = next((r for r in rows if r["model"] == model and r["T"] == t), None)
            cells.append("-" if row is None else row["status"] if row["status"] != "ok" else cell(row))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _pair(result: dict, steps: int) -> tuple[dict, dict]:
    rows = [r for r in result["rows"] if r["T"] == steps and r["status"] == "ok"]
    return next(r for r in rows if r["model"].startswith("DSN-int")), next(r for r in rows if r["model"] == "SJ PSN")


def _layers_table(result: dict, layout: str, models: list[str]) -> list[str]:
    rows = [r for r in result["rows"] if r["layout"] == layout]
    steps = sorted({r["T"] for r in rows})
    lines = _model_by_steps(
        rows, models, lambda row: f"{_ms(row['total_s'])} ({row['time_vs_dsn']:.2f}x) [{row['floor_multiple']:.1f}]"
    )
    floors = [next(r for r in rows if r["model"] == "DSN-int" and r["T"] == t) for t in steps]
    lines.append(
        "| *floor (copy GB/s)* | "
        + " | ".join(f"{_ms(r['floor_s'])} ({r['copy_bandwidth_gbs']:.0f})" for r in floors)
        + " |"
    )
    if all("kernel_loops_s" in r for r in floors):
        lines.append(
            "| *DSN-int kernel loops alone [multiple of the floor]* | "
            + " | ".join(f"{_ms(r['kernel_loops_s'])} [{r['kernel_loops_s'] / r['floor_s']:.1f}]" for r in floors)
            + " |"
        )
    return lines


def _contention_table(before: dict | None, after: dict | None) -> list[str]:
    if before is None or after is None:
        return ["(not measured)"]
    lines = [
        "| shape | backend | OpenMP | threads | before: quiet / busy | after: quiet / busy |",
        "|---|---|---|---|---|---|",
    ]
    for a in after["rows"]:
        b = next((r for r in before["rows"] if all(r[k] == a[k] for k in ("shape", "backend", "env", "threads"))), None)
        old = "-" if b is None else f"{b['quiet_ms']:.1f} / {b['busy_ms']:.1f} ms ({b['slowdown']:.2f}x)"
        new = f"{a['quiet_ms']:.1f} / {a['busy_ms']:.1f} ms ({a['slowdown']:.2f}x)"
        lines.append(f"| {a['shape']} | {a['backend']} | {a['env']} | {a['threads']} | {old} | {new} |")
    return lines


def _fresh_memory_section(result: dict | None) -> list[str]:
    """The first-write cost of a fresh buffer by page layout (``python -m paraspike.bench.fresh_memory``)."""
    if not result:
        return []
    lines = [
        "## Fresh memory: the first write to a layer's outputs",
        "",
        f"`{result['command']}` ([json](../results/fresh_memory_cpu.json)), run {result['date']}, transparent "
        f"huge pages `{result['transparent_hugepage']}`: one fill of a buffer freshly mapped from the kernel, "
        f"median of {result['rounds'] - 1} rounds after a first one (shown apart).",
        "",
        "| MiB | layout | fill | first round | page faults |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['mebibytes']} | {row['layout']} | {_ms(row['seconds'])} | {_ms(row['first_seconds'])} | "
            f"{row['page_faults']:.0f} |"
        )
    lines += [
        "",
        "Each 4 KiB page of fresh memory faults on its first write and the kernel zeroes it; a huge page "
        "faults once per 2 MiB, but only where a whole 2 MiB page lies inside the buffer, so an allocator's "
        "unaligned 4 MiB buffer gets half of it. The fused kernel therefore allocates its outputs from 2 MiB up "
        "2 MiB-aligned and advises them (from 256 KiB page-aligned), and keeps them for reuse (so the faults are "
        "paid once, not every call). "
        "The first rounds show the catch: when the kernel must first compact memory to find free 2 MiB pages, a "
        "huge-page fault can cost milliseconds.",
        "",
    ]
    return lines


def _options_section(result: dict | None) -> list[str]:
    """One DSN layer per option set against the paper's configuration (``python -m paraspike.bench.options``)."""
    if not result:
        return []
    lines = [
        "## What the DSN's options cost",
        "",
        f"`{result['command']}`, run {result['date']}, {result['threads']} threads "
        f"([json](../results/bench_options_cpu.json)): one DSN layer `{result['shape']}`, forward + backward, "
        f"each option set timed interleaved with the others, medians of {result['rounds']} rounds. Every set runs "
        "the fused kernel; `k <= 4` has the register-blocked path (fewer taps padded with zeros), `k > 4` the "
        "general one, and a `1/tau` other than 1, 2 or 4 computes the decay with vector `log1p`/`expm1`.",
        "",
        "| options | time | relative to the default |",
        "|---|---:|---:|",
    ]
    for label, row in result["rows"].items():
        lines.append(f"| {label} | {_ms(row['total_s'])} | {row['relative']:.2f}x |")
    return [*lines, ""]


def _recompute_section(result: dict | None) -> list[str]:
    """Recomputed against saved membrane potentials (``python -m paraspike.bench.recompute``)."""
    if not result:
        return []
    lines = [
        "## Recomputed against saved membrane potentials",
        "",
        f"`{result['command']}`, run {result['date']}, {result['threads']} threads "
        "([json](../results/bench_recompute_cpu.json)): one default DSN layer, forward + backward, with the "
        "kernel's default (the backward recomputes `H` from `x`, a 32-step tile at a time; the forward writes and "
        "autograd saves one `H` row per 32 steps, none up to 32) and with `PARASPIKE_RECOMPUTE_H=0` (`H` written, "
        "saved and read), the two alternated "
        f"every round, medians of {result['rounds']} rounds, the caches evicted before each run by a 48 MiB copy; "
        "MiB: what autograd saves for the backward.",
        "",
        "| input | saved H | recomputed H | time relative to saved H |",
        "|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        before, after = row["saved H"], row["recomputed H"]
        lines.append(
            f"| `{row['shape']}` | {_ms(before['total_s'])} ({before['saved_mib']:.1f} MiB) "
            f"| {_ms(after['total_s'])} ({after['saved_mib']:.1f} MiB) | {row['ratio']:.2f}x |"
        )
    networks = result.get("networks_saved_mib", {})
    if networks:
        lines += [
            "",
            "What autograd saves for one training step of the spiking VGGs of the whole-network benchmark above "
            "(DSN neurons; distinct storages):",
            "",
            "| network | saved H | recomputed H |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {name} | {counts['saved H']:.1f} MiB | {counts['recomputed H']:.1f} MiB |"
            for name, counts in networks.items()
        ]
    return [*lines, ""]


def _strip_cycles_section(result: dict | None) -> list[str]:
    """The kernel's register-blocked loops alone (``python -m paraspike.bench.strip_cycles``)."""
    if not result:
        return []
    rows = result["rows"]
    clock = rows[0]["staggered"]["clock_ghz"]
    lines = [
        "## The kernel's arithmetic alone",
        "",
        f"`{result['command']}`, run {result['date']}, one thread ([json](../results/bench_strip_cycles_cpu.json)): "
        "the register-blocked loops of the fused CPU kernel on a "
        f"`[T, {result.get('batch', 1)}, {result['channels']}, 16, 16]` layer "
        f"({result['neurons']} neurons, streams in L1/L2), with no dispatcher, autograd or thread pool around them; "
        f"best of {result['rounds']} rounds; clock {clock:.2f} GHz from a chain of dependent adds. A vector-step is "
        f"one step of {result['lanes']} neurons. What bounds these loops is how many steps the CPU overlaps, not "
        'its FP units (see [kernels.md](kernels.md), "Short dependency chains"). Last columns: the input at the '
        "outputs' offset within their 4 KiB pages (4 KiB aliasing).",
        "",
        "| T | forward ns / neuron-step | cycles / vector-step | backward ns / neuron-step | cycles / vector-step "
        "| aliased: forward, backward cycles |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        good, aliased = row["staggered"], row["aliased"]
        lines.append(
            f"| {row['steps']} | {good['forward_ns_per_neuron_step']:.3f} "
            f"| {good['forward_cycles_per_vector_step']:.1f} "
            f"| {good['backward_ns_per_neuron_step']:.3f} | {good['backward_cycles_per_vector_step']:.1f} "
            f"| {aliased['forward_cycles_per_vector_step']:.1f}, {aliased['backward_cycles_per_vector_step']:.1f} |"
        )
    return [*lines, ""]


def _single_step_section(result: dict | None) -> list[str]:
    """Serial inference, one step per call (``python -m paraspike.bench.single_step``)."""
    if not result:
        return []
    labels = list(result["rows"][0]["us_per_step"])
    lines = [
        "## Serial inference: one time step per call",
        "",
        f"`{result['command']}`, run {result['date']} ([json](../results/bench_single_step_cpu.json)): each "
        f"neuron in single-step mode, gradients off, one thread, {result['steps_per_round']} steps per round "
        f"from a reset state, rounds interleaved, medians of {result['rounds']} rounds; microseconds per step "
        "(relative to the DSN-int). The DSN's step runs the fused kernel for one step.",
        "",
        "| step input | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for row in result["rows"]:
        reference = row["us_per_step"]["DSN-int"]
        cells = " | ".join(f"{us:.1f} us ({us / reference:.2f}x)" for us in row["us_per_step"].values())
        lines.append(f"| `{row['shape']}` | {cells} |")
    return [*lines, ""]


def _networks_section(result: dict | None) -> list[str]:
    """Whole training steps of the same spiking VGG per neuron (``python -m paraspike.bench.networks``)."""
    if not result:
        return []
    from paraspike.bench.networks import network_table

    return [
        "## Whole networks: a spiking VGG's training step",
        "",
        f"`{result['command']}`, run {result['date']}, {result['threads']} threads "
        "([md](../results/bench_networks_cpu.md), [json](../results/bench_networks_cpu.json)). One SGD step "
        "(reset, forward, cross-entropy, backward, optimizer step) of the same `SpikingVGG` with each neuron, "
        "float32; networks timed interleaved, medians over the steps. The convolutions take most of a step, so "
        "a neuron's speed shows diluted here.",
        *["#" + line if line.startswith("## ") else line for line in network_table(result)],
        "",
    ]


def write_benchmarks_page(results: Path = RESULTS, path: Path = Path("docs/benchmarks.md")) -> None:
    lengths = _load(results / "bench_speed_cpu.json")
    psn8 = _load(results / "psn_16k" / "bench_speed_cpu.json")
    psn1 = _load(results / "psn_16k_batch1" / "bench_speed_cpu.json")
    layers = _load(results / "bench_layers_cpu.json")
    layers_reuse = _load(results / "keep_freed_memory" / "bench_layers_cpu.json")
    before = _load(results / "contention" / "contention_before.json")
    after = _load(results / "contention" / "contention_after.json")
    fresh = _load(results / "fresh_memory_cpu.json")
    networks = _load(results / "bench_networks_cpu.json")
    option_sets = _load(results / "bench_options_cpu.json")
    single = _load(results / "bench_single_step_cpu.json")
    strip_cycles = _load(results / "bench_strip_cycles_cpu.json")
    recomputed = _load(results / "bench_recompute_cpu.json")
    machine = (lengths or layers or {}).get("machine", {})
    lines = [
        "# Speed: the DSN against SpikingJelly's neurons, side by side",
        "",
        "Generated by `python -m paraspike.bench.report` from the JSON files under `results/`. Every number was "
        f"measured on the project's CI-class machine: {machine.get('cpu', '?')}, {machine.get('threads', '?')} "
        f"threads, torch {machine.get('torch', '?')}, SpikingJelly 2.0.0 (installed `--no-deps`), in one process per "
        "command. This machine is a shared virtual machine: repeated runs move by 10-30%, and its two vCPUs give "
        "about 1.4x, not 2x, on compute-bound work. No GPU was lent to the project yet; the same commands run "
        "there with `--device cuda`, and `scripts/gpu_check.sh` runs the whole GPU check (below).",
        "",
    ]
    if lengths:
        lines += [
            "## Long sequences: one layer of 1024 neurons",
            "",
            f"`{lengths['command']}`, run {lengths.get('date', '-')} ([md](../results/bench_speed_cpu.md), "
            "[json](../results/bench_speed_cpu.json), [png](../results/bench_speed_cpu.png), "
            "[printout](../results/bench_speed_cpu.txt)). Input "
            f"{lengths['input']}; forward + backward, medians of at least {lengths['repeats']} runs and "
            f"{lengths['min_time_s']} s of runs after warm-up, {lengths['cap_s']} s cap (over cap: the predicted "
            "single run passes the cap). In brackets: time relative to the DSN (integer spikes, fused kernel).",
            "",
            *_lengths_section(
                lengths,
                1024,
                [
                    "DSN-int [cpu]",
                    "DSN-bin [cpu]",
                    "DSN-int [chunked]",
                    "SJ PSN",
                    "SJ SlidingPSN k=4",
                    "SJ LIFNode (m)",
                    "SlidingPSN k=4 [ours, conv form]",
                    "LIF no-reset [ours, scan]",
                ],
            ),
            "",
            "Targets of the speed issues at 1024 neurons:",
            "",
            *[f"- {t['target']}: {t['verdict']}" for t in lengths["targets"]],
            "",
        ]
    for label, result in (("[T, 8, 128]", psn8), ("[T, 1, 1024]", psn1)):
        if result:
            short, long = _pair(result, 32), _pair(result, 16384)
            speedup = long[1]["total_s"] / long[0]["total_s"]
            short_ratio = short[1]["total_s"] / short[0]["total_s"]
            lines.append(
                f"- SpikingJelly's PSN at T = 16384 with a larger cap, input {label} (`{result['command']}`): DSN "
                f"{_ms(long[0]['total_s'])} vs PSN {_ms(long[1]['total_s'])}, **{speedup:.0f}x**; peak memory "
                f"{long[0]['peak_mib']:.0f} vs {long[1]['peak_mib']:.0f} MiB; at T = 32 "
                f"{_ms(short[0]['total_s'])} vs {_ms(short[1]['total_s'])}, {short_ratio:.2f}x."
            )
    lines.append("")
    for title, result, folder in (
        ("glibc's default allocator", layers, ""),
        ("freed memory kept (`--keep-freed-memory`)", layers_reuse, "keep_freed_memory/"),
    ):
        if not result:
            continue
        lines += [
            f"## Layer shapes, {title}",
            "",
            f"`{result['command']}`, run {result.get('date', '-')} ([md](../results/{folder}bench_layers_cpu.md), "
            f"[json](../results/{folder}bench_layers_cpu.json), [png](../results/{folder}bench_layers_cpu.png)). "
            "One neuron layer, float32, forward + backward, models timed interleaved (each round runs every model "
            "once; medians over the rounds). Cells: time (relative to the DSN-int; above 1 = slower than the DSN) "
            f"[multiple of the memory-traffic floor: {result['floor_bytes_per_neuron_step']} bytes per neuron-step "
            "over the bandwidth of a copy moving as many bytes, measured in the same run; the count of a layer "
            "that saves its potentials `H`, as the speed issue set it: the DSN recomputes `H` and moves about 20 of "
            "those bytes]."
            + (
                f" *Kernel loops alone*: {KERNEL_LOOPS_NOTE}"
                if any("kernel_loops_s" in r for r in result["rows"])
                else ""
            ),
            "",
        ]
        for layout in ("conv", "dense"):
            shape = next(r["shape"] for r in result["rows"] if r["layout"] == layout)
            lines += [f"**{layout}** `[T, {', '.join(str(s) for s in shape[1:])}]`:", ""]
            lines += _layers_table(
                result,
                layout,
                ["DSN-int", "DSN-bin", "copy", "SJ LIFNode (m)", "SJ ParametricLIFNode (m)", "SJ PSN", "LIF [ours]"],
            )
            lines.append("")
        lines += [*[f"- {t['target']}: {t['verdict']}" for t in result["targets"]], ""]
    lines += _networks_section(networks)
    lines += _options_section(option_sets)
    lines += _recompute_section(recomputed)
    lines += _strip_cycles_section(strip_cycles)
    lines += _single_step_section(single)
    lines += [
        "## A shared machine: another process busy on one core",
        "",
        "`paraspike bench contention --label before --pythonpath <checkout of the previous kernel>/src` and "
        "`paraspike bench contention --label after` ([before](../results/contention/contention_before.md), "
        "[after](../results/contention/contention_after.md)): one DSN layer, forward + backward, each configuration "
        "in a fresh process, on a quiet machine and while another process spins on one core.",
        "",
        *_contention_table(before, after),
        "",
        "What happens: a parallel region waits for its slowest thread, and OpenMP's idle threads spin-wait "
        "between regions. With a core taken by another process, the thread sharing it is descheduled for whole "
        "time slices, and the spinning thread steals time from the process's own main thread. The fused kernel "
        "now hands out small work items from a shared counter (a thread that loses its core delays only the item "
        "it holds), which took the slowdown with two threads from about 2.2-2.6x to 1.6-1.8x. What the library "
        "cannot change is OpenMP's spinning (libgomp reads its settings when torch starts): with "
        "`OMP_WAIT_POLICY=passive`, two threads under contention are as fast as one. PyTorch's own operations "
        "(the `chunked` backend) degrade more: 2.2-3.1x with defaults, 1.2-1.3x with a passive wait policy.",
        "",
        *_fresh_memory_section(fresh),
        "## What to set on your machine",
        "",
        "- Threads: `torch.set_num_threads(n)` (or `OMP_NUM_THREADS`) with `n` the cores free for the job; on a "
        "machine shared with other busy processes, also `OMP_WAIT_POLICY=passive` (set before Python starts).",
        "- Memory: large fresh tensors fault and are zeroed by the kernel on first touch; glibc returns freed "
        "blocks above its mmap threshold to the kernel, so a layer's same-sized outputs fault again every call. "
        "`MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647` (or jemalloc/tcmalloc, as PyTorch's CPU guide "
        "suggests) keeps freed memory for reuse for every layer; `paraspike bench speed --keep-freed-memory` "
        "measures with that. The fused DSN kernel keeps its own outputs of 256 KiB or more for reuse whatever "
        "the allocator: `PARASPIKE_OUTPUT_CACHE_MB` caps what it holds per process (default 1024; 0 turns it off), and "
        "`paraspike.kernels.cpu.release_output_cache()` hands it back.",
        "- `torch.compile(model)` works with DSN layers (one op each way per layer); it speeds up the surrounding "
        "layers, not the DSN itself.",
        "",
        "## GPU",
        "",
        "`bash scripts/gpu_check.sh OUT_DIR [WHEEL_DIR]` runs, on a machine with a CUDA GPU and no network, the "
        "whole test suite with CUDA present (every Triton kernel against the naive reference compiled, not "
        "interpreted; the DSN module on CUDA in both step modes, streamed, in bfloat16; `torch.compile` with "
        "inductor), then `paraspike bench speed --device cuda` (both suites) and `python -m paraspike.bench.networks "
        "--device cuda`, writing logs, JSON and tables to OUT_DIR. SpikingJelly 2.0.0 has no `backend=` argument: "
        "its `LIFNode` runs the CUDA kernels named by `SJ_LIF_CUDA_IMPLEMENTATION` when it is imported, so the "
        "benchmarks set it to `triton` (unless set) and the check runs the layer suite a second time with `cuda`, "
        "its compiled extension that replaced the CuPy backend. The peers it compares with (SpikingJelly, loguru, "
        "fla-core) and ninja come as wheels: "
        "`bash scripts/fetch_gpu_wheels.sh` downloads them where PyPI is reachable. Where a GPU is lent for "
        'minutes per command, run it in parts, each within the limit: `GPU_CHECK_PARTS="gpu-tests"` (the CUDA '
        'tests only), `"tests"` (the whole suite), `"speed layers layers-sj-cuda networks"` (the '
        "benchmarks; any subset, in that order), with `GPU_CHECK_QUICK=1` for fewer, shorter timing rounds "
        "(`--repeats 5 --min-time 0.3 --cap 4`; networks `--rounds 5 --min-time 2`), which each result's command "
        "line records. The exit status is the first failing part's. Not run yet: no GPU has been lent to the "
        "project.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default=str(RESULTS), help="the folder of the benchmark JSON files")
    parser.add_argument("--out", default="docs/benchmarks.md", help="the page to write")
    args = parser.parse_args()
    write_benchmarks_page(Path(args.results), Path(args.out))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
