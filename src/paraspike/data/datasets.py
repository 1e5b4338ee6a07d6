"""Datasets by name, as in-memory tensors, from local files: what ``paraspike train`` configs name.

``load_dataset(name, dir=None, ...)`` returns :class:`Splits` (train and test tensors). Where the
files are: ``dir`` if given, else ``$PARASPIKE_DATA/<folder>`` (folders below), else a known system
location. Nothing is downloaded here (see :mod:`paraspike.data.download`).

=============== ===================== ========================================================
name            folder                files and output
=============== ===================== ========================================================
digits          (scikit-learn)        8x8 digits, ``[N, 8, 8]``
mnist           mnist                 IDX gz; ``[N, 28, 28]``; only ``t10k`` needed with
                                      ``resplit_test=True`` (the 10k test split re-split)
fashion-mnist   fashion-mnist         IDX gz (Debian: /usr/share/datasets/fashion-mnist)
cifar10         cifar-10-batches-py   python pickle batches; ``[N, 3, 32, 32]``
nmnist          nmnist                NMNISTsmall ``.bs2`` events -> frames ``[N, T, 2, 34, 34]``
=============== ===================== ========================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from paraspike.data.cifar import load_cifar10
from paraspike.data.images import load_digits_split, load_mnist_idx, split_train_test
from paraspike.data.nmnist import load_nmnist_frames

__all__ = ["Splits", "load_dataset", "DATASETS", "resolve_data_dir"]

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "nmnist")
_FOLDERS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py", "nmnist": "nmnist"}
_SYSTEM = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
_CLASSES = {"digits": 10, "mnist": 10, "fashion-mnist": 10, "cifar10": 10, "nmnist": 10}
_HOW_TO_GET = {
    "mnist": "`paraspike data download mnist --dir DIR`",
    "fashion-mnist": "the Debian package dataset-fashion-mnist (apt install dataset-fashion-mnist: "
    "/usr/share/datasets/fashion-mnist) or `paraspike data download fashion-mnist --dir DIR`",
    "cifar10": "`paraspike data download cifar10 --dir DIR`",
    "nmnist": "the N-MNIST recordings (NMNISTsmall/ with its label lists, or the full set from the "
    "N-MNIST Mendeley Data record)",
}


@dataclass
class Splits:
    """Train/test tensors: inputs (any shape after the sample dim) and int64 labels."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: int
    source: str  # where the files were read from

    def subset(self, train_size: int | None, test_size: int | None, seed: int) -> Splits:
        """The first ``train_size`` / ``test_size`` samples after a seeded shuffle (None keeps all)."""

        def pick(x: Tensor, y: Tensor, size: int | None, offset: int) -> tuple[Tensor, Tensor]:
            if size is None or size >= len(y):
                return x, y
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + offset))[:size]
            return x[order], y[order]

        x_train, y_train = pick(self.x_train, self.y_train, train_size, 0)
        x_test, y_test = pick(self.x_test, self.y_test, test_size, 1)
        return Splits(x_train, y_train, x_test, y_test, self.classes, self.source)


def resolve_data_dir(name: str, directory: str | os.PathLike[str] | None) -> Path:
    """Where dataset ``name`` is read from (see the module doc); raises with what to do if nowhere."""
    if directory is not None:
        return Path(directory)
    root = os.environ.get("PARASPIKE_DATA")
    if root and (Path(root) / _FOLDERS[name]).is_dir():
        return Path(root) / _FOLDERS[name]
    if name in _SYSTEM and _SYSTEM[name].is_dir():
        return _SYSTEM[name]
    raise FileNotFoundError(
        f"no local copy of {name!r}: pass data.dir (or --data-dir), or set PARASPIKE_DATA to a folder holding "
        f"{_FOLDERS[name]}/; get it with {_HOW_TO_GET[name]}"
    )


def load_dataset(
    name: str,
    directory: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    resplit_test: bool = False,
    test_fraction: float = 0.2,
    frames: int = 10,
) -> Splits:
    """Dataset ``name`` (one of :data:`DATASETS`) as :class:`Splits`; see the module doc."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    if name == "digits":
        return Splits(*load_digits_split(seed, test_fraction), classes=10, source="scikit-learn")
    folder = resolve_data_dir(name, directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name} folder {folder} does not exist; get the files with {_HOW_TO_GET[name]}")
    if name == "nmnist":
        x_train, y_train = load_nmnist_frames(folder, "train", frames)
        x_test, y_test = load_nmnist_frames(folder, "test", frames)
    elif name == "cifar10":
        x_test, y_test = load_cifar10(folder, "test")
        x_train, y_train = (x_test, y_test) if resplit_test else load_cifar10(folder, "train")
    else:
        x_test, y_test = load_mnist_idx(folder, "t10k", name)
        x_train, y_train = (x_test, y_test) if resplit_test else load_mnist_idx(folder, "train", name)
    if resplit_test:
        x_train, y_train, x_test, y_test = split_train_test(x_test, y_test, test_fraction, seed)
    return Splits(x_train, y_train, x_test, y_test, _CLASSES[name], str(folder))
