"""Run configurations: a YAML file, the defaults under it, and ``key.sub=value`` overrides.

Every key of :data:`DEFAULTS` may be set in the file or overridden on the command line
(``paraspike train --config c.yaml trainer.max_epochs=5 model.neuron=lif``); values are parsed as
YAML (``1e-3``, ``true``, ``[32, 64]``, ``null``). Unknown keys are an error naming the key.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS", "load_config", "load_mapping", "apply_overrides"]

DEFAULTS: dict[str, Any] = {
    "task": "classification",  # classification | forecasting | language | rl (paraspike.tasks)
    "name": "run",
    "seed": 0,
    "out": "runs",
    "stop_after_epochs": None,  # stop early (as if interrupted; resume later): the schedule still spans max_epochs
    "data": {
        "dataset": "digits",
        "dir": None,
        "resplit_test": False,
        "test_fraction": 0.2,
        "presentation": "column",  # pixel | row | column | frames | static | events
        "permute_seed": None,
        "repeat_steps": 1,  # present every step this many times (matched-budget runs: T x N binary steps)
        "frames": 10,
        "train_size": None,
        "test_size": None,
        "val_fraction": 0.1,
        "batch_size": 64,
        "num_workers": 0,
        # forecasting (paraspike.data.series)
        "window": 96,
        "horizon": 24,
        "split": [0.6, 0.2, 0.2],  # train / validation / test fractions, in order (forecast windows, kjv text)
        "normalize": "zscore",  # zscore | maxabs | none, fitted on the training rows
        "train_stride": 1,  # use every n-th training window
        "val_stride": 1,  # use every n-th validation window (the test part keeps all)
        # language modelling (paraspike.data.text, paraspike.tasks.language)
        "tokens": "bytes",  # bytes | words
        "context": 512,  # training context (tokens)
        "train_windows": 2000,  # random training windows per epoch
        "eval_lengths": [],  # the extrapolation study's segment lengths (empty: no study)
        "eval_tokens": 65536,  # held-out tokens the study reads (from the start of the test part)
        "eval_stream": True,  # also read them in one pass with the state carried
        "eval_chunk": 2048,  # tokens per call when reading long segments
        "eval_batch": 16,  # segments per batch in the study
        "sample_prompt": "",  # a greedy sample after this prompt goes into the metrics (empty: none)
        "sample_tokens": 200,
    },
    "model": {"name": "sequential-image", "neuron": "dsn", "neuron_options": {}, "options": {}},
    "optim": {
        "name": "adamw",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "momentum": 0.9,
        "label_smoothing": 0.0,
        "schedule": "cosine",  # cosine | constant (paraspike.train.optim)
        "interval": "epoch",  # epoch | step: what the schedule counts
        "warmup": 0,  # epochs or steps (by interval) of linear warm-up
    },
    "trainer": {
        "max_epochs": 3,
        "accelerator": "cpu",
        "devices": 1,
        "strategy": "auto",
        "deterministic": True,
        "log_every_n_steps": 10,
        "limit_train_batches": None,
        "enable_progress_bar": True,
        "gradient_clip_val": None,
    },
    "early_stopping": {"monitor": "val_loss", "patience": 0},  # patience 0: off
    # reinforcement learning (task: rl, paraspike.tasks.rl): TD3 with Fujimoto's defaults
    "rl": {
        "env": "Hopper-v4",
        "total_steps": 1_000_000,
        "random_steps": 25_000,
        "batch_size": 256,
        "buffer_size": 1_000_000,
        "discount": 0.99,
        "tau": 0.005,
        "exploration_noise": 0.1,
        "target_noise": 0.2,
        "target_noise_clip": 0.5,
        "policy_delay": 2,
        "eval_every": 5_000,
        "eval_episodes": 10,
        "actor_lr": 3e-4,
        "critic_lr": 3e-4,
        "critic_hidden": [256, 256],
        "actor_state": "reset",  # reset | carry: the spiking actor's state across environment steps
        "window": 1,  # consecutive steps per sampled window (carry: > 1, the first burn_in steps build the state)
        "burn_in": 0,
    },
}


_FREE = ("neuron_options", "options")  # mappings passed on as they are (to the neuron / model)


def _check_type(where: str, default: Any, value: Any) -> Any:
    """``value`` if it fits the type of ``default`` (ints are accepted for floats; ``None`` defaults and
    free mappings accept anything), else a ``TypeError`` that names the key."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise TypeError(
            f"config key {where!r} must be {type(default).__name__} (like the default {default!r}), "
            f"got {value!r} ({type(value).__name__})"
        )
    return value


def _merge(base: dict[str, Any], update: dict[str, Any], path: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        where = f"{path}{key}"
        if key not in out:
            raise KeyError(f"unknown config key {where!r}; known here: {sorted(out)}")
        if isinstance(out[key], dict) and key not in _FREE:
            if not isinstance(value, dict):
                raise TypeError(f"config key {where!r} must be a mapping, got {value!r}")
            out[key] = _merge(out[key], value, where + ".")
        elif key in _FREE:
            if not isinstance(value, dict):
                raise TypeError(f"config key {where!r} must be a mapping, got {value!r}")
            out[key] = value
        else:
            out[key] = _check_type(where, out[key], value)
    return out


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``config`` with each ``dotted.key=value`` applied (value parsed as YAML).

    ``model.options={dim: 64}`` replaces the whole mapping of model options; a key inside it,
    ``model.options.dim=64``, sets that option and keeps the others."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        dotted, raw = item.split("=", 1)
        keys = dotted.split(".")
        value = _parse(raw)
        free = next((i for i, key in enumerate(keys[:-1]) if key in _FREE), None)
        if free is not None:  # a key inside a free mapping: set it in a copy of the current mapping
            mapping = _lookup(config, keys[: free + 1])
            node = mapping = copy.deepcopy(mapping) if isinstance(mapping, dict) else {}
            for key in keys[free + 1 : -1]:
                child = node.get(key)
                node[key] = child = child if isinstance(child, dict) else {}
                node = child
            node[keys[-1]] = value
            keys, value = keys[: free + 1], mapping
        update: dict[str, Any] = {}
        target = update
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
        config = _merge(config, update)
    return config


def _lookup(config: dict[str, Any], keys: list[str]) -> Any:
    node: Any = config
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _parse(raw: str) -> Any:
    """YAML, except that numbers YAML 1.1 leaves as strings (``3e-4``) become floats."""
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _load_file(defaults: dict[str, Any], path: Path | None) -> dict[str, Any]:
    """A copy of ``defaults`` updated by the YAML file at ``path`` (if any), keys and types checked."""
    config = copy.deepcopy(defaults)
    if path is None:
        return config
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found (the project's configs are in configs/)")
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise TypeError(f"{path}: a config file must hold a mapping at its top level")
    try:
        return _merge(config, loaded)
    except (KeyError, TypeError) as error:
        raise type(error)(f"{path}: {error.args[0]}") from None


def load_mapping(
    defaults: dict[str, Any], path: str | os.PathLike[str] | None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """``defaults`` updated by the YAML file at ``path`` (if any) and the overrides, with the same
    checks as :func:`load_config` (unknown keys and wrong types are errors naming the key)."""
    config = _load_file(defaults, None if path is None else Path(path))
    return apply_overrides(config, overrides or [])


def load_config(path: str | os.PathLike[str] | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """The defaults, updated by the YAML file at ``path`` (if any) and the overrides.

    A relative ``data.dir`` in the file is relative to the file's folder (so a config works from any
    working directory); one given as an override is relative to the working directory."""
    path = None if path is None else Path(path)
    config = _load_file(DEFAULTS, path)
    folder = config["data"].get("dir")
    if path is not None and isinstance(folder, str) and not Path(folder).is_absolute():
        config["data"]["dir"] = str((path.parent / folder).resolve())
    return apply_overrides(config, overrides or [])
