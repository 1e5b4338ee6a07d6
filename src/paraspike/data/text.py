"""Text for language modelling, read offline, as token tensors.

=============== ======================================================================================
name            where it is read
=============== ======================================================================================
kjv             the King James Bible, 4.4 M characters: ``<dir>/kjv.txt`` if ``data.dir`` holds one,
                else the output of ``bible -f "Gen1:1-Rev22:21"`` (Debian packages ``bible-kjv`` and
                ``bible-kjv-text``; one verse a line, with its reference). Split contiguously by
                ``data.split`` fractions (train / validation / test, in that order).
wikitext-2      ``<dir>/valid.txt`` and ``<dir>/test.txt`` (tokenized WikiText-2 v1; checked against the
                folder's ``SHA256SUMS`` when present). There is no training split here: the model trains
                on the validation split (its last ``data.val_fraction`` held out for validation) and is
                tested on the test split.
=============== ======================================================================================

Tokens (``data.tokens``): ``bytes`` (UTF-8 bytes, vocabulary 256; for these ASCII texts a byte is a
character, and bits per byte are bits per character) or ``words`` (whitespace-separated words plus
``<eos>`` at the end of every line, the PyTorch word-language-model recipe; the vocabulary is the
training text's words, a word never seen in training becomes ``<unk>``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["TEXTS", "TOKENIZATIONS", "load_text", "ByteTokenizer", "WordTokenizer", "TextSplits", "make_text_splits"]

TEXTS = ("kjv", "wikitext-2")
TOKENIZATIONS = ("bytes", "words")
KJV_RANGE = "Gen1:1-Rev22:21"


def _kjv(folder: Path | None) -> tuple[str, str]:
    if folder is not None and (folder / "kjv.txt").is_file():
        path = folder / "kjv.txt"
        return path.read_text(encoding="utf-8"), str(path)
    program = shutil.which("bible")
    if program is None:
        where = f" or save the text as {folder / 'kjv.txt'}" if folder is not None else ""
        raise FileNotFoundError(
            "the King James Bible is read from the `bible` program: install the Debian packages bible-kjv and "
            f"bible-kjv-text (apt-get install bible-kjv){where}"
        )
    text = subprocess.run([program, "-f", KJV_RANGE], check=True, capture_output=True, text=True).stdout
    return text, f"bible -f {KJV_RANGE} ({program})"


def _wikitext(folder: Path | None) -> tuple[str, str, str]:
    if folder is None:
        root = os.environ.get("PARASPIKE_DATA")
        folder = Path(root) / "wikitext-2" if root else None
    if folder is None or not (folder / "valid.txt").is_file() or not (folder / "test.txt").is_file():
        raise FileNotFoundError(
            f"WikiText-2 needs valid.txt and test.txt in data.dir (got {folder}); the project's copy is "
            "../shared/data/wikitext-2 (tokenized WikiText-2 v1, from pytorch/examples word_language_model/data)"
        )
    sums = folder / "SHA256SUMS"
    if sums.is_file():
        for line in sums.read_text().splitlines():
            digest, name = line.split()[:2]
            actual = hashlib.sha256((folder / name.lstrip("*")).read_bytes()).hexdigest()
            if actual != digest:
                raise ValueError(f"{folder / name}: sha256 {actual} differs from SHA256SUMS ({digest}); re-copy it")
    return (
        (folder / "valid.txt").read_text(encoding="utf-8"),
        (folder / "test.txt").read_text(encoding="utf-8"),
        str(folder),
    )


def load_text(name: str, folder: str | os.PathLike[str] | None = None) -> tuple[list[str], str]:
    """The parts of text ``name`` as stored (``kjv``: one text; ``wikitext-2``: validation and test)
    and a description of where they were read."""
    path = Path(folder) if folder is not None else None
    if name == "kjv":
        text, source = _kjv(path)
        return [text], source
    if name == "wikitext-2":
        valid, test, source = _wikitext(path)
        return [valid, test], source
    raise ValueError(f"unknown text {name!r}; choose one of {', '.join(TEXTS)}")


class ByteTokenizer:
    """UTF-8 bytes as tokens (vocabulary 256)."""

    vocab_size = 256

    def encode(self, text: str) -> Tensor:
        return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).clone()

    def encode_prompt(self, text: str) -> Tensor:
        """Tokens of a prompt to continue (the same as :meth:`encode`)."""
        return self.encode(text)

    def decode(self, tokens: Tensor) -> str:
        return bytes(tokens.to(torch.uint8).tolist()).decode("utf-8", errors="replace")


class WordTokenizer:
    """Whitespace words plus ``<eos>`` per line; the vocabulary of the text it is built from."""

    def __init__(self, text: str) -> None:
        words = sorted({w for line in text.splitlines() for w in line.split()} | {"<eos>", "<unk>"})
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.vocab_size = len(words)

    def encode(self, text: str) -> Tensor:
        unk, eos = self.index["<unk>"], self.index["<eos>"]
        ids = [i for line in text.splitlines() for i in [*(self.index.get(w, unk) for w in line.split()), eos]]
        return torch.tensor(ids, dtype=torch.int64)

    def encode_prompt(self, text: str) -> Tensor:
        """Tokens of a prompt to continue: :meth:`encode` without the closing ``<eos>``."""
        return self.encode(text)[:-1]

    def decode(self, tokens: Tensor) -> str:
        return " ".join(self.words[i] for i in tokens.tolist()).replace(" <eos> ", "\n").replace(" <eos>", "\n")


@dataclass
class TextSplits:
    """Token tensors of the three parts, the tokenizer and where the text came from."""

    train: Tensor
    val: Tensor
    test: Tensor
    tokenizer: ByteTokenizer | WordTokenizer
    source: str
    note: str


def make_text_splits(
    name: str,
    folder: str | os.PathLike[str] | None,
    tokens: str = "bytes",
    split: tuple[float, float, float] = (0.9, 0.05, 0.05),
    val_fraction: float = 0.1,
) -> TextSplits:
    """Train, validation and test tokens of text ``name`` (see the module doc)."""
    if tokens not in TOKENIZATIONS:
        raise ValueError(f"unknown data.tokens {tokens!r}; choose one of {', '.join(TOKENIZATIONS)}")
    parts, source = load_text(name, folder)
    if name == "kjv":
        if len(split) != 3 or abs(sum(split) - 1.0) > 1e-6 or min(split) <= 0:
            raise ValueError(f"data.split must be three positive fractions summing to 1, got {split}")
        text = parts[0]
        first, second = int(len(text) * split[0]), int(len(text) * (split[0] + split[1]))
        train_text, val_text, test_text = text[:first], text[first:second], text[second:]
        note = f"contiguous split {list(split)} of the whole text"
    else:
        if not 0 < val_fraction < 1:
            raise ValueError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        lines = parts[0].splitlines(keepends=True)
        cut = int(len(lines) * (1 - val_fraction))
        train_text, val_text, test_text = "".join(lines[:cut]), "".join(lines[cut:]), parts[1]
        note = f"trained on the validation split (its last {val_fraction:g} held out for validation), tested on test"
    tokenizer: ByteTokenizer | WordTokenizer = ByteTokenizer() if tokens == "bytes" else WordTokenizer(train_text)
    return TextSplits(
        tokenizer.encode(train_text),
        tokenizer.encode(val_text),
        tokenizer.encode(test_text),
        tokenizer,
        source,
        note,
    )
