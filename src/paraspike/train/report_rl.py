"""The reinforcement-learning sections of ``docs/results.md``: best and final evaluation return (mean
and spread over seeds), environment steps per second, actor size and firing, and a learning-curve
figure per group (mean +- standard deviation of the evaluation return over seeds, per actor)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from paraspike.train.report import mean_std

__all__ = ["rl_fields", "rl_section", "plot_learning_curves"]


def _learning_speed(metrics: dict[str, Any]) -> float | None:
    """Environment steps per second once learning has started (one TD3 update per step); older result
    files only hold the whole run's rate."""
    return metrics.get("learning_steps_per_second")


def rl_fields(found: list[dict[str, Any]]) -> dict[str, Any]:
    """An RL run's own entries of its report row (added to the fields every task's row has): best and
    final return, environment steps per second, critic size."""
    learning = [s for m in found if (s := _learning_speed(m)) is not None]
    return {
        "metrics": {
            "best_return": mean_std([m["best_return"] for m in found]),
            "final_return": mean_std([m["final_return"] for m in found]),
        },
        "steps_per_s": statistics.mean(m["steps_per_second"] for m in found),
        "learning_steps_per_s": statistics.mean(learning) if learning else None,
        "critic_params": found[0]["critic_parameters"],
    }


def rl_section(group: str, mine: list[dict[str, Any]], results: Path) -> list[str]:
    config = mine[0]["budget"]
    rl, model = config["rl"], config["model"]
    options = model.get("options", {})
    lines = [
        f"## {group}",
        "",
        f"Environment {rl['env']} (gymnasium, MuJoCo); TD3 (Fujimoto et al. 2018 defaults): "
        f"{rl['total_steps']:,} environment steps per run, the first {rl['random_steps']:,} with uniform random "
        f"actions, then one update per step (batch {rl['batch_size']}, discount {rl['discount']}, tau {rl['tau']}, "
        f"target-policy noise {rl['target_noise']} clipped at {rl['target_noise_clip']}, actor updated every "
        f"{rl['policy_delay']} steps, exploration noise {rl['exploration_noise']}, "
        f"Adam {rl['actor_lr']:g} / {rl['critic_lr']:g}); deterministic evaluation every "
        f"{rl['eval_every']:,} steps over {rl['eval_episodes']} episodes (environment seed + 100). Actor: "
        f"population encoder ({options.get('population')} Gaussian fields per observation), hidden "
        f"{options.get('hidden')}, T = {options.get('steps')} neuron steps per environment step, population "
        f"decoder with tanh; critic: two ANN MLPs. One thread of the 2-core CPU per run. Config "
        f"[`{mine[0]['run'].config}`](../{mine[0]['run'].config}); learning curves "
        f"[{group}.png](../{results}/{group}.png).",
        "",
        "Best: the highest evaluation mean over the run; final: the last evaluation. Steps/s: environment "
        "steps per second of wall time once updates start (whole run, random warm-up included, in brackets).",
        "",
        "| run | seeds | best return | final return | steps/s | actor params | rate | rerun |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in mine:
        best, final = r["metrics"]["best_return"], r["metrics"]["final_return"]
        learning = "-" if r["learning_steps_per_s"] is None else f"{r['learning_steps_per_s']:.0f}"
        rate = "-" if r["rate"] is None else f"{r['rate']:.3f}"
        lines.append(
            f"| [{r['run'].name}](../{results}/{r['run'].name}) | {','.join(map(str, r['seeds']))} "
            f"| {best[0]:.0f} +- {best[1]:.0f} | {final[0]:.0f} +- {final[1]:.0f} "
            f"| {learning} ({r['steps_per_s']:.0f}) | {r['params']:,} | {rate} | `{r['command']}` |"
        )
    return lines


def plot_learning_curves(rows: list[dict[str, Any]], path: Path) -> None:
    """Evaluation return against environment steps: mean over seeds with a +- one standard deviation band."""
    from paraspike.train.report_figures import _pyplot, save_figure

    plt = _pyplot()
    if plt is None or not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        curves = [{e["step"]: e["mean"] for e in m["evaluations"]} for m in r["found"]]
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        means = [statistics.mean(c[s] for c in curves) for s in steps]
        spreads = [statistics.pstdev([c[s] for c in curves]) for s in steps]
        label = f"{r['run'].variant or r['run'].name} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
        (line,) = ax.plot(steps, means, label=label)
        lower = [m - s for m, s in zip(means, spreads, strict=True)]
        upper = [m + s for m, s in zip(means, spreads, strict=True)]
        ax.fill_between(steps, lower, upper, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(rows[0]["budget"]["rl"]["env"])
    ax.legend(fontsize=7)
    save_figure(fig, path)
