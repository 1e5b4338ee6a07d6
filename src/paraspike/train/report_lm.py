"""The language-modelling sections of ``docs/results.md``: the test at the training context and the
length-extrapolation study (bits per token against the evaluation length, fresh state per segment,
and one streaming pass), mean and spread over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paraspike.train.report import mean_std

__all__ = ["language_section", "extrapolation_table"]


def _spread(values: list[float]) -> str:
    if not values:
        return ""
    mean, std = mean_std(values)
    return f"{mean:.3f} +- {std:.3f}" if len(values) > 1 else f"{mean:.3f}"


def extrapolation_table(mine: list[dict[str, Any]]) -> list[str]:
    """Rows: runs; columns: each evaluation length (fresh state per segment), then the streaming pass."""
    lengths: list[str] = []
    for r in mine:
        for m in r["found"]:
            for length in m.get("extrapolation", {}).get("fresh", {}):
                if length not in lengths:
                    lengths.append(length)
    if not lengths:
        return []
    lengths.sort(key=int)
    lines = [
        "| run | " + " | ".join(f"L = {int(n):,}" for n in lengths) + " | one pass (state carried) |",
        "|---|" + "---|" * (len(lengths) + 1),
    ]
    for r in mine:
        studies = [m["extrapolation"] for m in r["found"] if m.get("extrapolation")]
        cells = [_spread([s["fresh"][n]["bits"] for s in studies if n in s["fresh"]]) for n in lengths]
        cells.append(_spread([s["stream"]["bits"] for s in studies if "stream" in s]))
        lines.append(f"| {r['run'].name} | " + " | ".join(cells) + " |")
    return lines


def language_section(group: str, mine: list[dict[str, Any]], results: Path) -> list[str]:
    """The group's section; runs of different configs (WikiText-2 bytes and words) each get their own
    data, budget, tables and tokens/s, under one heading per config file."""
    configs = list(dict.fromkeys(r["run"].config for r in mine))
    if len(configs) == 1:
        return [f"## {group}", "", *_config_section(group, mine, results)]
    lines = [f"## {group}"]
    for config in configs:
        lines += [
            "",
            f"### `{config}`",
            "",
            *_config_section(group, [r for r in mine if r["run"].config == config], results),
        ]
    return lines


def _config_section(group: str, mine: list[dict[str, Any]], results: Path) -> list[str]:
    first = mine[0]
    data, config = first["data"], first["budget"]
    settings, optim, model = config["data"], config["optim"], config["model"]
    steps = settings["train_windows"] * config["trainer"]["max_epochs"] // settings["batch_size"]
    lines = [
        f"Data: {data['source']}; {data['split']}; {settings['tokens']} as tokens (vocabulary {data['vocab']}); "
        f"{data['train_tokens']:,} training / {data['val_tokens']:,} validation / {data['test_tokens']:,} test "
        f"tokens. Model: spiking SSM, {model['options'].get('depth')} blocks x {model['options'].get('dim')} "
        f"channels, d_state {model['options'].get('d_state')}, dropout {model['options'].get('dropout')}. "
        f"Budget: context {settings['context']}, {config['trainer']['max_epochs']} epochs x "
        f"{settings['train_windows']} random windows, batch {settings['batch_size']} ({steps:,} steps, "
        f"{steps * settings['batch_size'] * settings['context'] / 1e6:.1f} M tokens); {optim['name']} lr "
        f"{optim['lr']:g} (S4D parameters at most 1e-3, no weight decay), weight decay {optim['weight_decay']:g}, "
        f"{optim['schedule']} schedule with {optim['warmup']} warm-up steps; one thread of the 2-core CPU.",
        "",
        "Test: bits per token over the test part read as windows of the training context, each from a fresh "
        "state. Tokens/s: training tokens per second of wall time over an epoch (optimizer step and the "
        "epoch's validation included; `paraspike bench lm` times forward+backward alone).",
        "",
        "| run | seeds | test bits/token | test perplexity | parameters (neurons) | tokens/s | rate | rerun |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in mine:
        (bits, bits_sd), (ppl, ppl_sd) = r["metrics"]["bits"], r["metrics"]["perplexity"]
        counts = r["found"][0].get("parameter_counts", {})
        tokens = settings["train_windows"] * settings["context"]
        speed = f"{tokens / r['epoch_s']:,.0f}" if r["epoch_s"] else "-"
        rate = f"{r['rate']:.3f}" if r["rate"] is not None else "-"
        lines.append(
            f"| [{r['run'].name}](../{results}/{r['run'].name}) | {','.join(map(str, r['seeds']))} "
            f"| {bits:.3f} +- {bits_sd:.3f} | {ppl:.2f} +- {ppl_sd:.2f} "
            f"| {counts.get('total', r['params']):,} ({counts.get('neurons', 0):,}) | {speed} | {rate} "
            f"| `{r['command']}` |"
        )
    study = extrapolation_table(mine)
    if study:
        tokens = next(m["extrapolation"]["tokens"] for r in mine for m in r["found"] if m.get("extrapolation"))
        lines += [
            "",
            f"Length extrapolation (trained at context {settings['context']}): bits per token over the first "
            f"{tokens:,} test tokens cut into segments of L tokens, each read from a fresh state, and in one "
            f"pass with the state carried (the same tokens predicted in every column). Plot: "
            f"[{group}.png](../{results}/{group}.png).",
            "",
            *study,
        ]
    samples = [(r["run"].name, r["found"][0]["sample"]) for r in mine if r["found"][0].get("sample")]
    if samples:
        lines += ["", "Greedy samples (seed 0; `paraspike lm generate <run folder> --prompt ...`):", ""]
        for name, sample in samples:
            text = (sample["prompt"] + sample["greedy"]).replace("\n", " / ")[:160]
            lines.append(f"- {name}: `{text}`")
    return lines
