"""The project's experiment grid, run one configured run at a time, and its report.

``python -m paraspike.train.experiments run [--only GROUP ...]`` trains every run of :data:`EXPERIMENTS`
that has no ``results/experiments/<run>/seed<k>.json`` yet (so it can be stopped and continued; a run
interrupted after its first checkpoint resumes from it; several processes may share the grid, each run
locked while one trains it), copying each run's metrics there. ``... report`` writes ``docs/results.md``
and the figures under ``results/experiments/`` (:mod:`paraspike.train.report`). ``... list`` prints the
runs and whether each is done.

Groups: image and event classification (``sfmnist``, ``nmnist``, ``smnist``, ``matched``,
``ablation``) and forecasting (``forecast-<dataset>-h<horizon>``: SeqSNN's Spikformer with each
neuron, the causal Spikformer over the series' own time, the non-spiking Transformer of the same
layers, a linear model and the persistence forecast; ``...-revin`` groups add reversible instance
normalisation to the DSN, LIF and non-spiking Spikformers) and language modelling (``lm-kjv``: the
spiking SSM with each neuron and the length-extrapolation study; ``lm-wikitext2``: bytes and words)
and reinforcement learning (``rl-hopper``: TD3 with DSN, binary DSN, LIF and ANN actors;
``rl-hopper-carry``: the DSN actor with its state carried across each episode; ``rl-walker2d``: the
four actors on Walker2d).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from paraspike.train.config import load_config

__all__ = ["Run", "EXPERIMENTS", "run_experiments", "claim_run", "command_for", "result_path"]

RESULTS = Path("results/experiments")
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Run:
    """One row of a results table: a config file, overrides, the seeds; ``trained=False`` evaluates a
    reference that needs no training (the persistence forecast)."""

    name: str
    config: str
    overrides: tuple[str, ...] = ()
    seeds: tuple[int, ...] = SEEDS
    trained: bool = True
    variant: str = ""  # the model's short name within its group (forecasting: dsn, lif, ann, ...)


_SFMNIST = "configs/sfmnist.yaml"
NEURONS = ("dsn", "dsn-binary", "psn", "sliding-psn", "masked-psn", "lif")

# hardware-friendly DSN options (paraspike.neurons.hardware) against the float DSN, same budget
HARDWARE_OPTIONS = {
    "float": "{}",
    "hard-sigmoid": "{decay_fn: hard_sigmoid}",
    "pow2": "{decay_fn: pow2}",
    "int8": "{weight_bits: 8}",
    "fixed8": "{state_frac_bits: 8}",
    "all": "{decay_fn: pow2, weight_bits: 8, state_frac_bits: 8}",
}


def _hardware(task: str) -> list[Run]:
    config = f"configs/{task}.yaml"
    return [
        Run(f"{task}-dsn-hw-{label}", config, ("model.neuron=dsn", f"model.neuron_options={options}"), variant=label)
        for label, options in HARDWARE_OPTIONS.items()
    ]


_CLASSIFICATION: dict[str, list[Run]] = {
    "sfmnist": [Run(f"sfmnist-{n}", "configs/sfmnist.yaml", (f"model.neuron={n}",)) for n in NEURONS],
    "nmnist": [
        Run(f"nmnist-{n}", "configs/nmnist.yaml", (f"model.neuron={n}",)) for n in ("dsn", "sliding-psn", "lif")
    ],
    "smnist": [Run(f"smnist-{n}", "configs/smnist.yaml", (f"model.neuron={n}",)) for n in NEURONS],
    "matched": [  # T x 4 binary steps against the DSN's T steps with up to 4 spikes each (4x the compute: 1 seed)
        Run("sfmnist-lif-Tx4", "configs/sfmnist.yaml", ("model.neuron=lif", "data.repeat_steps=4"), (0,)),
        Run("sfmnist-dsn-binary-Tx4", "configs/sfmnist.yaml", ("model.neuron=dsn-binary", "data.repeat_steps=4"), (0,)),
    ],
    "ablation": [
        *[
            Run(f"sfmnist-dsn-decay-{d}", "configs/sfmnist.yaml", (f"model.neuron_options={{decay: {d}}}",), (0,))
            for d in ("static", "fc", "low_rank", "channel_conv")
        ],
        *[
            Run(f"sfmnist-dsn-N{n}", _SFMNIST, (f"model.neuron_options={{max_spike: {n}, surrogate: rect}}",), (0,))
            for n in (1, 2, 3)
        ],
    ],
    "hardware-smnist": _hardware("smnist"),
    "hardware-sfmnist": _hardware("sfmnist"),
}

FORECAST_CONFIGS = {
    "etth1": "configs/forecast_etth1.yaml",
    "etth2": "configs/forecast_etth2.yaml",
    "exchange-rate": "configs/forecast_exchangerate.yaml",
}
FORECAST_HORIZONS = (24, 96)
_REVIN = "model.options.revin=true"
_CAUSAL = ("model.name=spikformer-causal", "model.options={dim: 64, heads: 4, depth: 2}")
# variant -> overrides of the dataset's config (a Spikformer with the DSN, dim 64, 2 blocks, T = 4)
FORECAST_VARIANTS: dict[str, tuple[str, ...]] = {
    "dsn": ("model.neuron=dsn",),
    "dsn-binary": ("model.neuron=dsn-binary",),
    "lif": ("model.neuron=lif",),
    "psn": ("model.neuron=psn",),
    "ann": ("model.neuron=gelu", "model.options.softmax=true"),  # the same layers, GELU, softmax attention
    "causal-dsn": (*_CAUSAL, "model.neuron=dsn"),
    "causal-lif": (*_CAUSAL, "model.neuron=lif"),
    "causal-sliding-psn": (*_CAUSAL, "model.neuron=sliding-psn"),
    "causal-ann": (*_CAUSAL, "model.neuron=gelu"),
    "linear": ("model.name=linear-forecast", "model.neuron=identity", "model.options={}"),
}


def _forecasting() -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = {}
    for dataset, config in FORECAST_CONFIGS.items():
        for horizon in FORECAST_HORIZONS:
            prefix, horizon_override = f"{dataset}-h{horizon}", f"data.horizon={horizon}"
            runs = [
                Run(f"{prefix}-{variant}", config, (horizon_override, *overrides), variant=variant)
                for variant, overrides in FORECAST_VARIANTS.items()
            ]
            runs.append(Run(f"{prefix}-persistence", config, (horizon_override,), (0,), False, "persistence"))
            groups[f"forecast-{prefix}"] = runs
    for dataset in ("etth1", "exchange-rate"):  # reversible instance normalisation (not in SeqSNN)
        prefix, config = f"{dataset}-h96", FORECAST_CONFIGS[dataset]
        groups[f"forecast-{prefix}-revin"] = [
            Run(f"{prefix}-revin-{v}", config, ("data.horizon=96", *FORECAST_VARIANTS[v], _REVIN), variant=f"revin-{v}")
            for v in ("dsn", "lif", "ann")
        ]
    return groups


LM_NEURONS = ("dsn", "lif", "dsn-binary", "sliding-psn", "masked-psn", "identity")
_KJV = "configs/lm_kjv.yaml"
_LM_SEEDS = {"dsn": SEEDS, "lif": SEEDS}  # the others: seed 0
# SpikingJelly's kaiming init over fan-in T = 512 leaves the 4 taps that survive masking near 1/sqrt(512):
# the neuron starts silent and did not learn in a trial; it starts as the sliding PSN instead
_LM_OPTIONS = {"masked-psn": ("model.neuron_options={weight_init: sliding}",)}


def _language() -> dict[str, list[Run]]:
    kjv = [
        Run(f"lm-kjv-{n}", _KJV, (f"model.neuron={n}", *_LM_OPTIONS.get(n, ())), _LM_SEEDS.get(n, (0,)), variant=n)
        for n in LM_NEURONS
    ]
    wikitext = [
        Run(f"lm-wikitext2-{kind}-{n}", f"configs/lm_wikitext2_{kind}.yaml", (f"model.neuron={n}",), (0,), variant=n)
        for kind in ("chars", "words")
        for n in ("dsn", "lif")
    ]
    return {"lm-kjv": kjv, "lm-wikitext2": wikitext}


_HOPPER = "configs/rl_hopper.yaml"
_WALKER = "configs/rl_walker2d.yaml"
RL_ACTORS: dict[str, tuple[str, ...]] = {
    "dsn": ("model.neuron=dsn",),
    "dsn-binary": ("model.neuron=dsn-binary",),
    "lif": ("model.neuron=lif",),
    "ann": ("model.name=mlp-actor",),
}


def _reinforcement() -> dict[str, list[Run]]:
    actors = [Run(f"rl-hopper-{a}", _HOPPER, overrides, variant=a) for a, overrides in RL_ACTORS.items()]
    carried = ("model.neuron=dsn", "rl.actor_state=carry", "rl.window=4", "rl.burn_in=2")
    carry = Run("rl-hopper-dsn-carry", _HOPPER, carried, (0,), variant="dsn-carry")
    walker = [Run(f"rl-walker2d-{a}", _WALKER, overrides, variant=a) for a, overrides in RL_ACTORS.items()]
    return {"rl-hopper": actors, "rl-hopper-carry": [carry], "rl-walker2d": walker}


EXPERIMENTS: dict[str, list[Run]] = {**_CLASSIFICATION, **_forecasting(), **_language(), **_reinforcement()}


def result_path(run: str, seed: int) -> Path:
    return RESULTS / run / f"seed{seed}.json"


def command_for(run: Run, seed: int) -> str:
    """The ``paraspike train`` command that reruns ``run`` with ``seed``."""
    quoted = " ".join(f"'{o}'" if " " in o or "{" in o else o for o in run.overrides)
    return f"paraspike train --config {run.config} {quoted} seed={seed}".replace("  ", " ")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def claim_run(lock: Path) -> bool:
    """Take ``lock`` (a file holding this process's id, created atomically) so that other grid processes
    skip the run; False if a live process holds it. A lock left by a process that died is taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder and _process_alive(holder):
                return False
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(descriptor, "w") as handle:
            handle.write(str(os.getpid()))
        return True
    return False


def run_experiments(groups: list[str]) -> None:
    """Train (or evaluate) every run of ``groups`` without a result file yet. Several processes may run
    the grid at once: each run is claimed with a lock file ``<out>/<run>/seed<k>.lock`` while it trains,
    and the others skip it."""
    from paraspike.tasks.forecasting import persistence_metrics
    from paraspike.train.run import train, unfinished_checkpoint

    for group in groups:
        runs = EXPERIMENTS[group]
        rounds = max(len(r.seeds) for r in runs)
        order = [(run, seed) for i in range(rounds) for run in runs for seed in run.seeds[i : i + 1]]
        for run, seed in order:  # the first seed of every run, then the second, ...
            target = result_path(run.name, seed)
            if target.is_file():
                continue
            config = load_config(run.config, [*run.overrides, f"name={run.name}", f"seed={seed}"])
            lock = Path(config["out"]) / run.name / f"seed{seed}.lock"
            if not claim_run(lock):
                print(f"[{group}] {run.name} seed {seed}: another process is running it, skipped", flush=True)
                continue
            try:
                if target.is_file():  # finished by another process since the check above
                    continue
                resume = unfinished_checkpoint(config) if run.trained else None
                note = f" (resuming the interrupted run from {resume})" if resume is not None else ""
                print(f"[{group}] {run.name} seed {seed}{note}", flush=True)
                if not run.trained:
                    metrics = persistence_metrics(config)
                else:
                    metrics = train(config, resume=str(resume)) if resume is not None else train(config)
                metrics["command"] = command_for(run, seed) if run.trained else "(evaluated, not trained)"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(metrics, indent=2))
            finally:
                lock.unlink(missing_ok=True)


def main() -> None:
    from paraspike.train.report import write_report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "report", "list"], help="train the missing runs, report, or list")
    parser.add_argument(
        "--only", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS), metavar="GROUP", help="groups"
    )
    args = parser.parse_args()
    if args.action == "list":
        for group in args.only:
            for run in EXPERIMENTS[group]:
                done = sum(result_path(run.name, s).is_file() for s in run.seeds)
                print(f"{group:28s} {run.name:36s} {done}/{len(run.seeds)} seeds done")
        return
    if args.action == "run":
        run_experiments(args.only)
    write_report(reproducing=Path("docs/reproducing.md"))


if __name__ == "__main__":
    main()
