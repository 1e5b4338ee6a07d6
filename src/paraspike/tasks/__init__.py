"""Task families: what differs between them (the Lightning module, the data, the metrics) lives here;
:mod:`paraspike.train` is the generic runner that dispatches on the config's ``task``.

Each task module provides ``build(config) -> (LightningModule, LightningDataModule)`` and
``summarize(tested, module, data) -> dict`` (the task's entries of the run's metrics file).

================ ===================================================================
task             module
================ ===================================================================
classification   :mod:`paraspike.tasks.classification` (images, event frames)
forecasting      :mod:`paraspike.tasks.forecasting` (multivariate time series)
language         :mod:`paraspike.tasks.language` (next-token prediction, length extrapolation)
================ ===================================================================
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["TASKS", "get_task"]

TASKS = {
    "classification": "paraspike.tasks.classification",
    "forecasting": "paraspike.tasks.forecasting",
    "language": "paraspike.tasks.language",
}


def get_task(name: str) -> ModuleType:
    """The task module ``name`` (imported on demand)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])
