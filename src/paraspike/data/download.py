"""Fetch the canonical dataset files, checked against their published checksums: only when asked.

Nothing in paraspike downloads at run time; ``paraspike data download NAME --dir DIR`` (or
:func:`download`) is the one explicit way. Files whose MD5 does not match are deleted and reported.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["download", "SOURCES", "RemoteFile"]


@dataclass(frozen=True)
class RemoteFile:
    url: str
    md5: str
    extract: bool = False  # a .tar.gz to unpack into the folder


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
SOURCES: dict[str, list[RemoteFile]] = {
    "mnist": [
        RemoteFile(_MNIST + "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        RemoteFile(_MNIST + "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        RemoteFile(_MNIST + "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        RemoteFile(_MNIST + "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ],
    "fashion-mnist": [
        RemoteFile(_FASHION + "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        RemoteFile(_FASHION + "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        RemoteFile(_FASHION + "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        RemoteFile(_FASHION + "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ],
    "cifar10": [
        RemoteFile(
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", extract=True
        )
    ],
}


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(name: str, folder: str | os.PathLike[str], sources: dict[str, list[RemoteFile]] | None = None) -> Path:
    """Download dataset ``name`` into ``folder`` (skipping files already there with the right MD5)."""
    table = SOURCES if sources is None else sources
    if name not in table:
        raise ValueError(f"no download source for {name!r}; known: {sorted(table)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for remote in table[name]:
        target = folder / remote.url.rsplit("/", 1)[-1]
        if not (target.is_file() and _md5(target) == remote.md5):
            print(f"downloading {remote.url} -> {target}", flush=True)
            urllib.request.urlretrieve(remote.url, target)  # noqa: S310 - an explicit user request
            got = _md5(target)
            if got != remote.md5:
                target.unlink()
                raise OSError(f"{target.name}: MD5 {got} does not match the published {remote.md5}; file removed")
        if remote.extract:
            with tarfile.open(target) as archive:
                archive.extractall(folder, filter="data")
    return folder
