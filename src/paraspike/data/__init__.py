"""Dataset loaders that work offline from local files."""

from paraspike.data.images import load_digits_split, load_mnist_idx, split_train_test

__all__ = ["load_digits_split", "load_mnist_idx", "split_train_test"]
