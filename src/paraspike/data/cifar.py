"""CIFAR-10 in its canonical "python version" format (pickled batches), read from a local folder.

The folder (``cifar-10-batches-py``) holds ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``:
each a pickle of a dict with ``b"data"`` (``uint8 [N, 3072]``, the 1024 red, then green, then blue
values of a 32 x 32 image, row-major) and ``b"labels"`` (N ints).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["load_cifar10"]

_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path} is not a CIFAR-10 python batch (a dict with b'data' and b'labels')")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: b'data' must be [N, 3072] uint8, got {data.shape}")
    return data, np.asarray(batch[b"labels"], dtype=np.int64)


def load_cifar10(folder: str | os.PathLike[str], split: str = "test") -> tuple[Tensor, Tensor]:
    """Images ``[N, 3, 32, 32]`` in ``[0, 1]`` and labels ``[N]`` of the ``"train"`` or ``"test"`` split."""
    folder = Path(folder)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    names = _TRAIN if split == "train" else ("test_batch",)
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 batches {missing} not found in {folder}; point to the extracted cifar-10-batches-py "
            "folder, or fetch it with `paraspike data download cifar10 --dir DIR`"
        )
    parts = [_read_batch(folder / name) for name in names]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    images = torch.from_numpy(data).reshape(-1, 3, 32, 32).float() / 255.0
    return images, torch.from_numpy(labels)
