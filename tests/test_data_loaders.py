"""Offline dataset loaders, presentations, event emulation, checked downloads, and the models."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from paraspike.data import (
    emulate_saccade_events,
    events_to_frames,
    load_cifar10,
    load_dataset,
    present_sequentially,
    read_nmnist_events,
)
from paraspike.data.download import RemoteFile, download
from paraspike.models import build_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NMNIST = SHARED / "nmnist"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_presentations_put_pixels_rows_and_columns_on_the_time_axis():
    images = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # [N, H, W]
    pixel = present_sequentially(images, "pixel")
    row = present_sequentially(images, "row")
    column = present_sequentially(images, "column")
    assert pixel.shape == (2, 12, 1, 1) and row.shape == (2, 3, 1, 4) and column.shape == (2, 4, 1, 3)
    assert torch.equal(pixel[1, 5, 0, 0], images[1, 1, 1])  # step 5 = pixel (1, 1) in row-major order
    assert torch.equal(row[0, 2, 0], images[0, 2]) and torch.equal(column[0, 3, 0], images[0, :, 3])
    permuted = present_sequentially(images, "pixel", permute_seed=5)
    assert not torch.equal(permuted, pixel) and torch.equal(permuted.sort(1).values, pixel.sort(1).values)
    assert torch.equal(permuted, present_sequentially(images, "pixel", permute_seed=5))  # one fixed order
    with pytest.raises(ValueError, match="unknown presentation"):
        present_sequentially(images, "diagonal")


def _write_cifar_batch(path: Path, n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    with open(path, "wb") as handle:
        pickle.dump({b"batch_label": b"test", b"data": data, b"labels": labels}, handle)
    return data, labels


def test_cifar10_reads_the_python_batch_format(tmp_path):
    data, labels = _write_cifar_batch(tmp_path / "test_batch", 7, 0)
    for i in range(1, 6):
        _write_cifar_batch(tmp_path / f"data_batch_{i}", 3, i)
    images, y = load_cifar10(tmp_path, "test")
    assert images.shape == (7, 3, 32, 32) and y.tolist() == labels
    assert images[2, 1, 0, 5] == pytest.approx(data[2, 1024 + 5] / 255)  # green plane, row 0, column 5
    train_images, _ = load_cifar10(tmp_path, "train")
    assert train_images.shape == (15, 3, 32, 32)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar10(tmp_path, "train")


@pytest.mark.skipif(not NMNIST.is_dir(), reason="../shared/data/nmnist is not beside this checkout")
def test_nmnist_events_and_frames_from_the_real_recordings():
    events = read_nmnist_events(NMNIST / "NMNISTsmall" / "1.bs2")
    assert events.shape[1] == 4 and (np.diff(events[:, 3]) >= 0).all()
    assert events[:, 0].max() <= 33 and set(np.unique(events[:, 2])) <= {0, 1}
    frames = events_to_frames(events, 10)
    assert frames.shape == (10, 2, 34, 34) and frames.sum() == len(events)
    splits = load_dataset("nmnist", NMNIST, frames=6)
    assert splits.x_train.shape == (1000, 6, 2, 34, 34) and splits.x_test.shape == (100, 6, 2, 34, 34)
    assert splits.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the first MNIST training digits


@pytest.mark.skipif(not FASHION.is_dir(), reason="the Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package_location():
    splits = load_dataset("fashion-mnist")
    assert splits.x_train.shape == (60000, 28, 28) and splits.x_test.shape == (10000, 28, 28)
    assert 0.0 <= float(splits.x_train.min()) and float(splits.x_train.max()) <= 1.0


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PARASPIKE_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="PARASPIKE_DATA"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")


def test_saccade_emulation_fires_on_edges_in_both_polarities():
    image = torch.zeros(1, 16, 16)
    image[0, 5:11, 5:11] = 1.0
    frames = emulate_saccade_events(image, frames=6, amplitude=2.0)
    assert frames.shape == (1, 6, 2, 20, 20)
    assert frames[:, :, 1].sum() > 0 and frames[:, :, 0].sum() > 0  # ON and OFF events
    assert frames[0, :, :, :4, :4].sum() == 0  # a blank corner never fires
    assert emulate_saccade_events(torch.zeros(1, 16, 16), frames=6).sum() == 0  # no edges, no events
    with pytest.raises(ValueError, match="multiple of 3"):
        emulate_saccade_events(image, frames=4)


def test_download_checks_md5_and_removes_bad_files(tmp_path):
    source = tmp_path / "remote" / "file.gz"
    source.parent.mkdir()
    source.write_bytes(b"canonical bytes")
    good = hashlib.md5(b"canonical bytes").hexdigest()
    target = tmp_path / "data"
    download("x", target, {"x": [RemoteFile(source.as_uri(), good)]})
    assert (target / "file.gz").read_bytes() == b"canonical bytes"
    with pytest.raises(OSError, match="does not match"):
        download("y", tmp_path / "other", {"y": [RemoteFile(source.as_uri(), "0" * 32)]})
    assert not (tmp_path / "other" / "file.gz").exists()


@pytest.mark.parametrize("neuron", ["dsn", "dsn-binary", "lif", "psn", "masked-psn", "sliding-psn", "plif"])
def test_sequential_image_network_trains_with_any_neuron(neuron):
    model = build_model("sequential-image", (12, 1, 8), 5, neuron, channels=4, hidden=8)
    x = torch.rand(3, 12, 1, 8)
    logits = model(x)
    assert logits.shape == (3, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_vgg_and_sew_resnet_shapes():
    vgg = build_model("vgg", (4, 2, 16, 16), 10, "dsn", widths=[4, 8])
    assert vgg(torch.rand(2, 4, 2, 16, 16)).shape == (2, 10)
    sew = build_model("sew-resnet", (1, 12, 12), 10, "lif", steps=3, widths=[4, 8])
    assert sew(torch.rand(2, 1, 12, 12)).shape == (2, 10)
    with pytest.raises(ValueError, match="needs samples of 4 dimensions"):
        build_model("vgg", (2, 16, 16), 10)
