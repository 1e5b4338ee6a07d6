"""Training: ``paraspike train --config configs/<name>.yaml [key=value ...]`` on Lightning."""

from paraspike.train.config import DEFAULTS, apply_overrides, load_config
from paraspike.train.run import run_folder, train

__all__ = ["train", "load_config", "apply_overrides", "run_folder", "DEFAULTS"]
