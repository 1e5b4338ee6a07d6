"""The approximation study's grid (config, runs, JSON, figures).

For every target (reset x tau), input kind and seed: the seed draws the training and test inputs
(``train_sequences`` and ``test_sequences`` sequences of ``steps`` steps), the input is scaled so the
target fires at ``target_rate`` spikes per step on the training part (the scale is recorded), and each
model of ``models`` is fitted (binary mode: one model step per target step). Integer mode fits a DSN
with ``N = max_spike`` to the target's spike *counts* over windows of ``N`` target steps: the target
runs ``N * steps`` fine steps (its own calibration), the DSN takes one step per window, with the
window's mean input, and must emit the window's count (0..N). The ablation refits the DSN (binary and
integer) and the sliding PSN with each window ``k`` of ``ablation.kernel_sizes``.

Results are appended to ``<out>/results.json`` after every fit; a rerun skips the fits already there
(``--fresh`` starts over), so an interrupted study continues where it stopped.
"""

from __future__ import annotations

import copy
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from paraspike.tasks.approximation.fit import build_fit_model, fit_neuron, pool_steps
from paraspike.tasks.approximation.targets import INPUT_KINDS, LifTarget, calibrate_scale, make_inputs, run_target

__all__ = ["STUDY_DEFAULTS", "load_study_config", "run_study", "planned_fits"]

STUDY_DEFAULTS: dict[str, Any] = {
    "name": "approximation",
    "out": "results/approximation",
    "seeds": [0, 1, 2],
    "resets": ["hard", "soft"],
    "taus": [2.0, 8.0, 32.0],
    "inputs": list(INPUT_KINDS),
    "steps": 256,
    "train_sequences": 64,
    "test_sequences": 64,
    "target_rate": 0.15,
    "models": ["dsn", "sliding-psn", "psn", "lif-noreset", "plif"],
    "kernel_size": 4,
    "max_spike": 4,
    "fit": {"steps": 600, "lr": 0.05, "vr_tau": 5.0},
    "ablation": {"kernel_sizes": [1, 2, 4, 8, 16], "models": ["dsn", "dsn-int", "sliding-psn"], "inputs": ["gaussian"]},
    "figure_window": 128,
}


def load_study_config(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """:data:`STUDY_DEFAULTS` updated by the YAML at ``path`` and ``key=value`` overrides (typed like
    the training configs: an unknown key or a wrong type is an error naming it)."""
    from paraspike.train.config import load_mapping

    return load_mapping(STUDY_DEFAULTS, path, overrides)


def _key(record: dict[str, Any]) -> str:
    return "|".join(str(record[k]) for k in ("target", "input", "model", "mode", "kernel_size", "seed"))


def planned_fits(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every fit of the study as ``{target, input, model, mode, kernel_size, seed, ablation}``."""
    fits = []
    targets = [LifTarget(r, float(t)) for r in config["resets"] for t in config["taus"]]
    for seed in config["seeds"]:
        for kind in config["inputs"]:
            for target in targets:
                base = {"target": target.name, "input": kind, "seed": seed}
                for model in [*config["models"], "dsn-int"]:
                    mode = "integer" if model == "dsn-int" else "binary"
                    fits.append(
                        {**base, "model": model, "mode": mode, "kernel_size": config["kernel_size"], "ablation": False}
                    )
                if kind not in config["ablation"]["inputs"]:
                    continue
                for k in config["ablation"]["kernel_sizes"]:
                    if k == config["kernel_size"]:
                        continue
                    for model in config["ablation"]["models"]:
                        mode = "integer" if model == "dsn-int" else "binary"
                        fits.append({**base, "model": model, "mode": mode, "kernel_size": k, "ablation": True})
    return fits


class _Problems:
    """The (scaled) inputs and target spikes of one (target, input kind, seed, mode), built once."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.cache: dict[tuple[str, str, int, str], dict[str, Any]] = {}

    def get(self, target: LifTarget, kind: str, seed: int, mode: str) -> dict[str, Any]:
        key = (target.name, kind, seed, mode)
        if key not in self.cache:
            self.cache = {k: v for k, v in self.cache.items() if k[:3] == key[:3]}  # keep one problem set
            self.cache[key] = self._build(target, kind, seed, mode)
        return self.cache[key]

    def _build(self, target: LifTarget, kind: str, seed: int, mode: str) -> dict[str, Any]:
        c = self.config
        n = c["max_spike"] if mode == "integer" else 1
        offset = 1000 * INPUT_KINDS.index(kind)
        train_x = make_inputs(kind, n * c["steps"], c["train_sequences"], offset + 2 * seed)
        test_x = make_inputs(kind, n * c["steps"], c["test_sequences"], offset + 2 * seed + 1)
        scale = calibrate_scale(target, train_x, c["target_rate"])
        parts = {}
        for part, x in (("train", scale * train_x), ("test", scale * test_x)):
            spikes, membrane = run_target(target, x)
            if n > 1:
                parts[part] = (pool_steps(x, n, "mean"), pool_steps(spikes, n, "sum"))
            else:
                parts[part] = (x, spikes)
            if part == "test":
                parts["test_membrane"] = membrane
                parts["test_fine"] = (x, spikes)
        return {"scale": scale, **parts}


def _fit_one(config: dict[str, Any], fit: dict[str, Any], problems: _Problems) -> dict[str, Any]:
    reset, tau = fit["target"].split("-tau")
    target = LifTarget(reset, float(tau))
    problem = problems.get(target, fit["input"], fit["seed"], fit["mode"])
    torch.manual_seed(fit["seed"])
    model = build_fit_model(
        "dsn" if fit["model"] == "dsn-int" else fit["model"],
        steps=config["steps"],
        kernel_size=fit["kernel_size"],
        max_spike=config["max_spike"] if fit["mode"] == "integer" else 1,
        target_reset=reset,
    )
    result = fit_neuron(model, problem["train"], problem["test"], **config["fit"])
    record = {**fit, "input_scale": problem["scale"], **result.as_dict()}
    if not fit["ablation"] and fit["seed"] == config["seeds"][0]:
        window = config["figure_window"]
        record["trace"] = {name: values[:window] for name, values in result.trace.items()}
        if fit["mode"] == "binary":
            x, spikes = problem["test"]
            membrane = problem["test_membrane"]
            record["trace"] |= {
                "input": x[:window, 0, 0].tolist(),
                "target_spikes": spikes[:window, 0, 0].tolist(),
                "target_membrane": membrane[:window, 0, 0].tolist(),
            }
        else:
            record["trace"]["target_counts"] = problem["test"][1][:window, 0, 0].tolist()
    return record


def run_study(config: dict[str, Any], fresh: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run every planned fit not yet in ``<out>/results.json``; returns the results document."""
    from tqdm.auto import tqdm

    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    document: dict[str, Any] = {"records": []}
    if path.is_file() and not fresh:
        document = json.loads(path.read_text())
        if document.get("config", {}).get("fit") not in (None, config["fit"]) or document.get("config", {}).get(
            "steps"
        ) not in (None, config["steps"]):
            raise ValueError(
                f"{path} holds a study with another fit budget or length; rerun with --fresh (or another out=)"
            )
    document["config"] = copy.deepcopy(config)
    document["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    document["torch"] = torch.__version__
    done = {_key(r) for r in document["records"]}
    todo = [f for f in planned_fits(config) if _key(f) not in done]
    problems = _Problems(config)
    start = time.perf_counter()
    for fit in tqdm(todo, desc="approximation fits", unit="fit", disable=not progress, mininterval=10):
        document["records"].append(_fit_one(config, fit, problems))
        path.write_text(json.dumps(document))
    document["seconds_this_run"] = time.perf_counter() - start
    path.write_text(json.dumps(document))
    return document
