"""Dataset loaders that work offline from local files, presentations and encoders."""

from paraspike.data.cifar import load_cifar10
from paraspike.data.datasets import DATASETS, Splits, load_dataset, resolve_data_dir
from paraspike.data.download import download
from paraspike.data.event_emulation import emulate_saccade_events
from paraspike.data.images import load_digits_split, load_mnist_idx, split_train_test
from paraspike.data.nmnist import events_to_frames, load_nmnist_frames, read_nmnist_events
from paraspike.data.sequential import PRESENTATIONS, present_sequentially
from paraspike.data.series import SERIES, WindowDataset, load_series, make_windows

__all__ = [
    "load_digits_split",
    "load_mnist_idx",
    "split_train_test",
    "load_cifar10",
    "load_dataset",
    "resolve_data_dir",
    "Splits",
    "DATASETS",
    "download",
    "emulate_saccade_events",
    "events_to_frames",
    "load_nmnist_frames",
    "read_nmnist_events",
    "present_sequentially",
    "PRESENTATIONS",
    "SERIES",
    "load_series",
    "make_windows",
    "WindowDataset",
]
