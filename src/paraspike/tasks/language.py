r"""Language modelling (spec ``tasks.md`` section 1): next-token prediction on a text, with the
length-extrapolation study in the test phase.

Data (:mod:`paraspike.data.text`): ``data.dataset`` (``kjv``, ``wikitext-2``), ``data.tokens``
(``bytes``, ``words``). Training samples are windows of ``data.context`` + 1 tokens at offsets drawn
afresh every epoch (``data.train_windows`` per epoch, seeded by ``seed + epoch`` and sharded by rank);
validation and test read their part as non-overlapping windows of ``data.context`` tokens, each from a
fresh state. Loss: cross-entropy in nats per token; also bits per token (``loss / ln 2``: bits per
character for byte tokens of ASCII text) and perplexity ``exp(loss)``.

The study (after the test, when ``data.eval_lengths`` is set): the first ``data.eval_tokens`` + 1
tokens of the test part, read (a) cut into non-overlapping segments of each length ``L_eval``, every
segment from a fresh state, and (b) in one pass with the state carried (``data.eval_stream``); both
predict the same tokens when every length divides ``data.eval_tokens``. Long segments run in chunks
of ``data.eval_chunk`` tokens with the state carried, which gives what one call gives (the model is
causal and tested to be chunk-invariant) in the memory of one chunk.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from paraspike.data.text import make_text_splits
from paraspike.models import build_model
from paraspike.models.lm_stream import generate, segment_nll, stream_nll
from paraspike.neurons import reset_net
from paraspike.tasks.common import ScheduledModule

__all__ = ["TextWindows", "RandomOffsetSampler", "TextData", "LanguageModel", "build", "summarize"]


class TextWindows(Dataset):
    """``(x, y)`` = ``tokens[s : s + context]``, ``tokens[s + 1 : s + context + 1]`` for a start ``s``
    (the sampler's items are start offsets; without one, non-overlapping windows)."""

    def __init__(self, tokens: Tensor, context: int) -> None:
        if tokens.numel() < context + 1:
            raise ValueError(f"a text part of {tokens.numel()} tokens is shorter than data.context + 1 = {context + 1}")
        self.tokens, self.context = tokens, context

    def __len__(self) -> int:
        return (self.tokens.numel() - 1) // self.context

    def __getitem__(self, item: int) -> tuple[Tensor, Tensor]:
        start = item * self.context if item < len(self) else item - len(self)  # >= len: a raw offset
        window = self.tokens[start : start + self.context + 1].long()
        return window[:-1], window[1:]


class RandomOffsetSampler(Sampler[int]):
    """``count`` random window starts per epoch (``seed + epoch``), split across ranks; items are encoded
    as ``len(dataset) + start`` so :class:`TextWindows` reads them as raw offsets."""

    def __init__(self, windows: TextWindows, count: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.windows, self.count, self.seed, self.rank, self.world, self.epoch = windows, count, seed, rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        positions = self.windows.tokens.numel() - self.windows.context
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        starts = torch.randint(0, positions, (self.count,), generator=generator)
        return iter((starts[self.rank :: self.world] + len(self.windows)).tolist())

    def __len__(self) -> int:
        return len(range(self.rank, self.count, self.world))


class TextData(L.LightningDataModule):
    """The text's three parts as windows (see the module doc)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config, data = config, config["data"]
        self.splits = make_text_splits(
            data["dataset"], data["dir"], data["tokens"], tuple(data["split"]), data["val_fraction"]
        )
        context = data["context"]
        self.train_set = TextWindows(self.splits.train, context)
        self.val_set = TextWindows(self.splits.val, context)
        self.test_set = TextWindows(self.splits.test, context)
        self.vocab_size = self.splits.tokenizer.vocab_size

    def sizes(self) -> dict[str, Any]:
        return {
            "train_tokens": self.splits.train.numel(),
            "val_tokens": self.splits.val.numel(),
            "test_tokens": self.splits.test.numel(),
            "train_windows_per_epoch": self.config["data"]["train_windows"],
            "vocab": self.vocab_size,
        }

    def _loader(self, dataset: Dataset, sampler: Sampler[int] | None = None) -> DataLoader:
        data = self.config["data"]
        return DataLoader(dataset, batch_size=data["batch_size"], sampler=sampler, num_workers=data["num_workers"])

    def train_dataloader(self) -> DataLoader:
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        count, seed = self.config["data"]["train_windows"], self.config["seed"]
        return self._loader(self.train_set, RandomOffsetSampler(self.train_set, count, seed, rank, world))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)


class LanguageModel(ScheduledModule):
    """Next-token cross-entropy of a language model from the registry (``spiking-ssm-lm``).

    Parameter groups: parameters marked ``_optim`` (the S4D layers': ``lr_cap`` and ``weight_decay``)
    get at most that learning rate and no weight decay (SpikingSSM's recipe: SSM lr <= 1e-3, no decay);
    vectors (norms, biases, thresholds) get no weight decay."""

    def __init__(self, config: dict[str, Any], vocab: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        model = config["model"]
        self.model = build_model(
            model["name"],
            (config["data"]["context"],),
            vocab,
            model["neuron"],
            model["neuron_options"],
            **model["options"],
        )
        self.optim = config["optim"]

    def parameter_groups(self) -> list[dict[str, Any]]:
        lr, decay = float(self.optim["lr"]), float(self.optim["weight_decay"])
        groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
        for parameter in self.model.parameters():
            special = getattr(parameter, "_optim", None)
            if special is not None:
                key = (min(lr, special.get("lr_cap", lr)), special.get("weight_decay", decay))
            else:
                key = (lr, decay if parameter.dim() > 1 else 0.0)
            groups.setdefault(key, []).append(parameter)
        return [{"params": params, "lr": lr_, "weight_decay": wd} for (lr_, wd), params in groups.items()]

    def forward(self, tokens: Tensor) -> Tensor:
        reset_net(self.model)
        return self.model(tokens)

    def _loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        return F.cross_entropy(self(x).flatten(0, 1), y.flatten())

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss = self._loss(batch)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True)
        self.log("val_bits", loss / math.log(2), sync_dist=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss = self._loss(batch)
        self.log("test_loss", loss, sync_dist=True)
        self.log("test_bits", loss / math.log(2), sync_dist=True)


def build(config: dict[str, Any]) -> tuple[LanguageModel, TextData]:
    """The language model and its text for ``config``."""
    data = TextData(config)
    return LanguageModel(config, data.vocab_size), data


def _reading(result: Any) -> dict[str, float]:
    return {
        "loss": result.loss,
        "bits": result.bits_per_token,
        "perplexity": result.perplexity,
        "tokens": result.predicted,
        "seconds": result.seconds,
    }


def extrapolation(module: LanguageModel, data: TextData) -> dict[str, Any]:
    """The study of the module doc on the test part: ``{"fresh": {L: reading}, "stream": reading}``."""
    settings = data.config["data"]
    lengths = [int(n) for n in settings["eval_lengths"]]
    if not lengths:
        return {}
    tokens = data.splits.test[: settings["eval_tokens"] + 1]
    model = module.model.eval()
    chunk, batch = settings["eval_chunk"], settings["eval_batch"]
    out: dict[str, Any] = {"tokens": tokens.numel() - 1, "chunk": chunk, "fresh": {}}
    for length in lengths:
        if length > tokens.numel() - 1:
            raise ValueError(f"data.eval_lengths has {length}, longer than data.eval_tokens = {tokens.numel() - 1}")
        out["fresh"][str(length)] = _reading(segment_nll(model, tokens.long(), length, chunk, batch))
        print(f"paraspike: L_eval {length}: {out['fresh'][str(length)]['bits']:.4f} bits/token", flush=True)
    if settings["eval_stream"]:
        out["stream"] = _reading(stream_nll(model, tokens.long(), chunk))
    return out


def summarize(tested: list[dict[str, float]], module: LanguageModel, data: TextData) -> dict[str, Any]:
    """Test loss, bits and perplexity at the training context, the extrapolation study, the parameter
    counts and a greedy sample, for the run's metrics file."""
    loss = float(tested[0]["test_loss"]) if tested else float("nan")
    settings = data.config["data"]
    summary: dict[str, Any] = {
        "test_loss": loss,
        "test_bits": loss / math.log(2),
        "test_perplexity": math.exp(min(loss, 700.0)),
        "data": {
            "source": data.splits.source,
            "split": data.splits.note,
            "tokens": settings["tokens"],
            "context": settings["context"],
            **data.sizes(),
        },
        "parameter_counts": getattr(module.model, "parameter_counts", lambda: {})(),
        "extrapolation": extrapolation(module, data),
    }
    prompt = settings["sample_prompt"]
    if prompt:
        tokenizer = data.splits.tokenizer
        sample = generate(module.model.eval(), tokenizer.encode_prompt(prompt).long(), settings["sample_tokens"], 0.0)
        summary["sample"] = {"prompt": prompt, "greedy": tokenizer.decode(sample)}
    return summary
