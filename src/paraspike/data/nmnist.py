"""N-MNIST event recordings (binary ``.bs2``/``.bin`` files) and their binning into frames.

Each file is a flat run of 5-byte events ``b0..b4``: ``x = b0``, ``y = b1``, polarity
``p = b2 >> 7`` (1 = ON), timestamp ``t = ((b2 & 0x7F) << 16) | (b3 << 8) | b4`` microseconds, on a
34 x 34 sensor (Orchard et al. 2015). The ``NMNISTsmall`` layout (``<id>.bs2`` plus label lists
``train1K.txt`` / ``test100.txt`` with ``id<TAB>label`` rows) is what ../shared/data/nmnist holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["read_nmnist_events", "events_to_frames", "load_nmnist_frames", "SENSOR"]

SENSOR = (34, 34)
_LISTS = {"train": "train1K.txt", "test": "test100.txt"}


def read_nmnist_events(path: str | os.PathLike[str]) -> np.ndarray:
    """Events of one recording as ``int64 [E, 4]`` columns ``(x, y, p, t_us)``, in time order."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of 5-byte N-MNIST events")
    b = raw.reshape(-1, 5).astype(np.int64)
    t = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    return np.stack([b[:, 0], b[:, 1], b[:, 2] >> 7, t], axis=1)


def events_to_frames(events: np.ndarray, frames: int, size: tuple[int, int] = SENSOR) -> Tensor:
    """Event counts ``[frames, 2, H, W]`` (channel 0 = OFF, 1 = ON) in ``frames`` equal time bins
    spanning the first to the last event."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    out = np.zeros((frames, 2, *size), dtype=np.float32)
    if len(events):
        t = events[:, 3] - events[0, 3]
        span = max(int(t[-1]) + 1, 1)
        index = np.minimum(t * frames // span, frames - 1)
        np.add.at(out, (index, events[:, 2], events[:, 1], events[:, 0]), 1.0)
    return torch.from_numpy(out)


def load_nmnist_frames(folder: str | os.PathLike[str], split: str = "train", frames: int = 10) -> tuple[Tensor, Tensor]:
    """Frames ``[N, frames, 2, 34, 34]`` and labels ``[N]`` of an ``NMNISTsmall``-style folder."""
    folder = Path(folder)
    if (folder / "NMNISTsmall").is_dir():
        folder = folder / "NMNISTsmall"
    if split not in _LISTS:
        raise ValueError(f"split must be one of {sorted(_LISTS)}, got {split!r}")
    listing = folder / _LISTS[split]
    if not listing.is_file():
        raise FileNotFoundError(f"N-MNIST label list {listing} not found (expected the NMNISTsmall layout)")
    samples, labels = [], []
    for line in listing.read_text().splitlines():
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            continue  # the "#sample #class" header
        samples.append(events_to_frames(read_nmnist_events(folder / f"{fields[0]}.bs2"), frames))
        labels.append(int(fields[1]))
    return torch.stack(samples), torch.tensor(labels, dtype=torch.int64)
