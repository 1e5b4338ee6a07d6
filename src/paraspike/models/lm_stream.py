r"""Long texts and generation with a stateful language model (:class:`~paraspike.models.SpikingSSMLM`),
in memory that does not grow with the text.

The model keeps its state between calls, so a text is fed in chunks of ``chunk`` tokens: memory is
that of one chunk (activations ``[chunk, B, H]``, logits ``[B, chunk, V]``) plus the state, whatever
the length. The negative log-likelihood of a text :math:`x_0 \dots x_{N-1}` is
:math:`-\sum_{t=1}^{N-1} \log p(x_t \mid x_{<t})` in nats (bits per token: divide by ``ln 2``).

* :func:`stream_nll`: one pass over a text (a tensor or any iterable of token chunks, for example
  a file read piece by piece) with the state carried from the first token to the last.
* :func:`segment_nll`: the same tokens cut into non-overlapping segments of ``length``, each read from
  a fresh state (the length-extrapolation protocol of ALiBi, Press et al. 2022); segments run as a batch.
* :func:`generate`: a prompt, then one token at a time in single-step mode (the recurrent form).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paraspike.neurons import reset_net
from paraspike.nn import set_step_mode

__all__ = ["StreamResult", "stream_nll", "segment_nll", "generate", "iter_file_bytes"]


@dataclass
class StreamResult:
    """What a pass over a text measured: summed NLL (nats) over ``predicted`` tokens, wall time."""

    nll: float
    predicted: int
    tokens: int
    seconds: float

    @property
    def loss(self) -> float:
        """Mean NLL per predicted token (nats)."""
        return self.nll / max(self.predicted, 1)

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")


def _summed_nll(logits: Tensor, targets: Tensor) -> float:
    """Summed cross-entropy, computed in at least float32."""
    logits = logits.flatten(0, 1).to(torch.promote_types(logits.dtype, torch.float32))
    return float(F.cross_entropy(logits, targets.flatten().long(), reduction="sum"))


def _chunks(text: Tensor | Iterable[Tensor], chunk: int) -> Iterator[Tensor]:
    if isinstance(text, Tensor):
        yield from text.split(chunk, dim=-1)
        return
    buffer: list[Tensor] = []
    held = 0
    for piece in text:
        buffer.append(piece)
        held += piece.shape[-1]
        while held >= chunk:
            joined = torch.cat(buffer, dim=-1)
            yield joined[..., :chunk]
            rest = joined[..., chunk:]
            buffer, held = ([rest] if rest.shape[-1] else []), rest.shape[-1]
    if held:
        yield torch.cat(buffer, dim=-1)


@torch.no_grad()
def stream_nll(model: nn.Module, text: Tensor | Iterable[Tensor], chunk: int = 2048) -> StreamResult:
    """NLL of ``text`` (``[N]`` or ``[B, N]`` tokens, or an iterable of such chunks) in one pass from a
    fresh state, ``chunk`` tokens per call; the model is left reset."""
    import time

    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of tokens, got {chunk}")
    reset_net(model)
    start = time.perf_counter()
    nll, predicted, tokens = 0.0, 0, 0
    previous: Tensor | None = None  # the last token of the previous chunk: the input that predicts this one's first
    try:
        for piece in _chunks(text, chunk):
            piece = piece if piece.dim() == 2 else piece.unsqueeze(0)
            inputs = piece[:, :-1] if previous is None else torch.cat([previous, piece[:, :-1]], dim=1)
            targets = piece[:, 1:] if previous is None else piece
            if inputs.shape[1]:
                logits = model(inputs)
                nll += _summed_nll(logits, targets)
                predicted += targets.numel()
            previous = piece[:, -1:]
            tokens += piece.numel()
    finally:
        reset_net(model)
    return StreamResult(nll, predicted, tokens, time.perf_counter() - start)


@torch.no_grad()
def segment_nll(model: nn.Module, tokens: Tensor, length: int, chunk: int = 2048, batch: int = 16) -> StreamResult:
    """NLL of ``tokens`` ``[N]`` cut into ``(N - 1) // length`` segments: segment ``i`` reads
    ``tokens[i L : (i+1) L]`` from a fresh state and predicts ``tokens[i L + 1 : (i+1) L + 1]``
    (the first token of each segment is predicted from one token of context). ``batch`` segments run
    together, ``chunk`` tokens per call."""
    import time

    if tokens.dim() != 1:
        raise ValueError(f"segment_nll takes one text [N], got shape {tuple(tokens.shape)}")
    count = (tokens.numel() - 1) // length
    if count < 1:
        raise ValueError(f"a text of {tokens.numel()} tokens has no segment of {length} (+1) tokens")
    inputs = tokens[: count * length].view(count, length)
    targets = tokens[1 : count * length + 1].view(count, length)
    start = time.perf_counter()
    nll = 0.0
    for first in range(0, count, batch):
        reset_net(model)
        rows = slice(first, first + batch)
        for begin in range(0, length, chunk):
            logits = model(inputs[rows, begin : begin + chunk])
            labels = targets[rows, begin : begin + chunk]
            nll += _summed_nll(logits, labels)
    reset_net(model)
    return StreamResult(nll, count * length, count * length, time.perf_counter() - start)


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt: Tensor,
    count: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    chunk: int = 2048,
) -> Tensor:
    """``count`` tokens after ``prompt`` ``[P]`` (``P >= 1``): the prompt read in chunks (multi-step), then
    one token per call in single-step mode. ``temperature=0`` picks the most likely token."""
    if prompt.dim() != 1 or prompt.numel() < 1:
        raise ValueError(f"generate needs a prompt of at least one token [P], got shape {tuple(prompt.shape)}")
    reset_net(model)
    logits: Tensor | None = None
    for piece in prompt.unsqueeze(0).split(chunk, dim=1):
        logits = model(piece)[:, -1]
    assert logits is not None
    out: list[Tensor] = []
    set_step_mode(model, "s")
    try:
        for _ in range(count):
            token = _sample(logits[0].float(), temperature, top_k, generator)
            out.append(token)
            logits = model(token.view(1))
    finally:
        set_step_mode(model, "m")
        reset_net(model)
    return torch.stack(out) if out else prompt.new_zeros(0)


def _sample(logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None) -> Tensor:
    if temperature <= 0:
        return logits.argmax()
    if top_k is not None:
        cutoff = logits.topk(min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < cutoff, float("-inf"))
    return torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=generator)[0]


def iter_file_bytes(path: str | Path, piece: int = 1 << 16, limit: int | None = None) -> Iterator[Tensor]:
    """The bytes of a file as ``uint8`` tensors of up to ``piece`` bytes, read one piece at a time (at most
    ``limit`` bytes in all): byte-level tokens for :func:`stream_nll` without the file in memory."""
    left = math.inf if limit is None else limit
    with open(path, "rb") as handle:
        while left > 0:
            data = handle.read(int(min(piece, left)))
            if not data:
                return
            left -= len(data)
            yield torch.frombuffer(bytearray(data), dtype=torch.uint8)
