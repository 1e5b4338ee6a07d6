"""A trained run (its folder: ``config.yaml`` and ``checkpoints/``) or a config file, as a model and its
data module: what ``paraspike energy`` and ``paraspike lm`` run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

__all__ = ["load_run"]


def load_run(source: str | Path, overrides: list[str] | None = None) -> tuple[Any, Any, dict[str, Any], Path | None]:
    """``(lightning module, data module, config, checkpoint)`` for a run folder (weights from
    ``checkpoints/best.ckpt``, else ``last.ckpt``; the module in eval mode) or a YAML config (a new,
    untrained model; ``checkpoint`` is ``None``). ``overrides`` apply to a config file only."""
    from paraspike.tasks import get_task
    from paraspike.train.config import load_config

    source = Path(source)
    if source.is_dir():
        config_path = source / "config.yaml"
        if not config_path.is_file():
            raise FileNotFoundError(f"{source} is not a run folder (no config.yaml); pass runs/<name>/seed<k>")
        config = yaml.safe_load(config_path.read_text())
        candidates = [source / "checkpoints" / name for name in ("best.ckpt", "last.ckpt")]
        checkpoint = next((c for c in candidates if c.is_file()), None)
        if checkpoint is None:
            raise FileNotFoundError(f"no checkpoints/last.ckpt in {source}: the run has not finished an epoch")
    elif source.is_file():
        config, checkpoint = load_config(source, overrides), None
    else:
        raise FileNotFoundError(f"{source}: neither a run folder (runs/<name>/seed<k>) nor a config file")
    if config.get("task") == "rl":
        raise ValueError(
            f"{source} is a reinforcement-learning run: its actor is not a Lightning module; load its "
            "checkpoints/last.pt and call paraspike.energy.estimate_energy(actor, observations)"
        )
    module, data = get_task(config["task"]).build(config)
    if checkpoint is not None:
        module.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"])
    return module.eval(), data, config, checkpoint
