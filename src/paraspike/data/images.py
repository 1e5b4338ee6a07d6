"""Small image datasets: scikit-learn's 8x8 digits (ships with scikit-learn) and MNIST IDX files.

All loaders return float images in ``[0, 1]`` shaped ``[N, H, W]`` and int64 labels ``[N]``.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["load_digits_split", "load_mnist_idx", "split_train_test", "read_idx"]


def split_train_test(
    images: Tensor, labels: Tensor, test_fraction: float, seed: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Shuffle with ``seed`` and split into ``(x_train, y_train, x_test, y_test)``."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's 1,797 handwritten 8x8 digits (UCI), pixel values scaled to ``[0, 1]``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the digits data ships with scikit-learn: pip install 'paraspike[demo]'") from error
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.int64)
    return split_train_test(images, labels, test_fraction, seed)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) as a numpy array of its stored type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {data[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {array.size} values")
    return array.reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{stem}[.gz] not found in {folder}")


def load_mnist_idx(
    folder: str | os.PathLike[str], split: str = "t10k", dataset: str = "MNIST"
) -> tuple[Tensor, Tensor]:
    """MNIST-format IDX files from ``folder``: ``{split}-images-idx3-ubyte[.gz]`` and labels.

    Args:
        folder: a directory holding the canonical MNIST (or Fashion-MNIST) files.
        split: ``"t10k"`` (test) or ``"train"``.
        dataset: the dataset's name, for error messages.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{dataset} folder {folder} does not exist")
    images = read_idx(_find(folder, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find(folder, f"{split}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return torch.tensor(images, dtype=torch.float32) / 255.0, torch.tensor(labels, dtype=torch.int64)
