"""Multivariate time series for forecasting, read from local files, cut into sliding windows.

=============== ================ ================================================================
name            folder           file and content
=============== ================ ================================================================
etth1, etth2    ett              ``ETTh1.csv`` / ``ETTh2.csv``: 17,420 hourly rows x 7 variables
                                 (a date column first; CC BY-ND 4.0: read as is, never rewritten)
exchange-rate   exchange_rate    ``exchange_rate.txt.gz``: 7,588 days x 8 currencies (LSTNet)
=============== ================ ================================================================

Windows follow the SeqSNN protocol (spec ``tasks.md`` section 2): sample ``i`` is the input
``x = data[i : i + W]`` ``[W, C]`` and the target ``y = data[i + W : i + W + H]`` ``[H, C]`` (all
``H`` future steps of all variables). Samples are split chronologically by index into train,
validation and test (fractions ``split``; ``total = N - W - H + 1`` samples; train and test get
``int(total * fraction)``, validation the rest). Normalisation is fitted on the rows the training
samples cover and applied to every row: ``zscore`` (per-variable mean and standard deviation),
``maxabs`` (divide each variable by its largest absolute value) or ``none``. Targets and metrics are
in normalised units.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["SERIES", "load_series", "WindowDataset", "make_windows", "NORMALIZATIONS"]

SERIES = {
    "etth1": ("ett", "ETTh1.csv"),
    "etth2": ("ett", "ETTh2.csv"),
    "exchange-rate": ("exchange_rate", "exchange_rate.txt.gz"),
}
NORMALIZATIONS = ("zscore", "maxabs", "none")
_SOURCES = {
    "ett": "https://github.com/zhouhaoyi/ETDataset (ETT-small/)",
    "exchange_rate": "https://github.com/laiguokun/multivariate-time-series-data (exchange_rate/)",
}


def _series_folder(name: str, directory: str | os.PathLike[str] | None) -> Path:
    folder_name, _ = SERIES[name]
    if directory is not None:
        return Path(directory)
    root = os.environ.get("PARASPIKE_DATA")
    if root and (Path(root) / folder_name).is_dir():
        return Path(root) / folder_name
    raise FileNotFoundError(
        f"no local copy of {name!r}: pass data.dir (or --data-dir), or set PARASPIKE_DATA to a folder holding "
        f"{folder_name}/; the files come from {_SOURCES[folder_name]}"
    )


def load_series(name: str, directory: str | os.PathLike[str] | None = None) -> tuple[Tensor, list[str], str]:
    """``(values [N, C] float32, variable names, path read)`` of series ``name`` (see the module doc)."""
    if name not in SERIES:
        raise ValueError(f"unknown series {name!r}; choose one of {', '.join(SERIES)}")
    path = _series_folder(name, directory) / SERIES[name][1]
    if not path.is_file():
        raise FileNotFoundError(f"{name}: {path} not found; the files come from {_SOURCES[SERIES[name][0]]}")
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as handle:
            rows = [line.strip().split(",") for line in handle if line.strip()]
        names = [f"var{i}" for i in range(len(rows[0]))]
    else:
        lines = path.read_text().splitlines()
        names = lines[0].split(",")[1:]
        rows = [line.split(",")[1:] for line in lines[1:] if line.strip()]
    values = torch.tensor([[float(v) for v in row] for row in rows], dtype=torch.float32)
    return values, names, str(path)


class WindowDataset(Dataset):
    """Samples ``start .. start + length - 1`` (every ``stride``-th) of ``series`` [N, C]:
    ``(x [window, C], y [horizon, C])``."""

    def __init__(self, series: Tensor, start: int, length: int, window: int, horizon: int, stride: int = 1) -> None:
        self.series, self.window, self.horizon = series, window, horizon
        self.indices = range(start, start + length, stride)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[Tensor, Tensor]:
        i = self.indices[item]
        return self.series[i : i + self.window], self.series[i + self.window : i + self.window + self.horizon]


def make_windows(
    values: Tensor,
    window: int,
    horizon: int,
    split: tuple[float, float, float] = (0.6, 0.2, 0.2),
    normalize: str = "zscore",
    train_stride: int = 1,
    val_stride: int = 1,
) -> tuple[WindowDataset, WindowDataset, WindowDataset, dict[str, list[float]]]:
    """Chronological train/validation/test windows of ``values`` [N, C], normalised with statistics of the
    rows the training samples cover (see the module doc). ``train_stride`` / ``val_stride`` keep every n-th
    training / validation window (the test part always keeps every window). Returns the datasets and
    ``{shift, scale}``."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown data.normalize {normalize!r}; choose one of {', '.join(NORMALIZATIONS)}")
    for name, stride in (("data.train_stride", train_stride), ("data.val_stride", val_stride)):
        if stride < 1:
            raise ValueError(f"{name} must be a positive integer (keep every n-th window), got {stride}")
    if len(split) != 3 or abs(sum(split) - 1.0) > 1e-6 or min(split) < 0:
        raise ValueError(f"data.split must be three fractions (train, validation, test) summing to 1, got {split}")
    rows = values.shape[0]
    total = rows - window - horizon + 1
    if total < 3:
        raise ValueError(f"a series of {rows} rows has no room for windows of {window} + {horizon} steps")
    n_train, n_test = int(total * split[0]), int(total * split[2])
    n_val = total - n_train - n_test
    fitted = values[: n_train + window + horizon - 1]  # the rows training samples read
    if normalize == "zscore":
        shift, scale = fitted.mean(0), fitted.std(0, unbiased=False)
    elif normalize == "maxabs":
        shift, scale = torch.zeros(values.shape[1]), fitted.abs().amax(0)
    else:
        shift, scale = torch.zeros(values.shape[1]), torch.ones(values.shape[1])
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant variable stays as it is
    normalised = (values - shift) / scale
    datasets = (
        WindowDataset(normalised, 0, n_train, window, horizon, train_stride),
        WindowDataset(normalised, n_train, n_val, window, horizon, val_stride),
        WindowDataset(normalised, n_train + n_val, n_test, window, horizon),
    )
    return (*datasets, {"shift": shift.tolist(), "scale": scale.tolist()})
