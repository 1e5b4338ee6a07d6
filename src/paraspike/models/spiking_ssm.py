r"""The spiking state-space language model (the paper's third architecture), after SpikingSSM
(Shen et al., AAAI 2025) with any registry neuron over the token axis.

Block (pre-norm residual over the stream ``x`` ``[L, B, H]``, time first)::

    z = LayerNorm(x)
    y = S4D(z) / exp(ln_vth)          # diagonal SSM as a causal FFT convolution; per-channel threshold scale
    s = neuron(y)                     # over the tokens: DSN, LIF, sliding/masked PSN, or identity (ANN)
    x = x + Dropout(GLU(Linear(H -> 2H)(Dropout(s))))

Language model: ``Embedding(V, H)`` -> ``depth`` blocks -> ``LayerNorm`` -> linear head tied to the
embedding. Input tokens ``[B, L]``, logits ``[B, L, V]``.

The network keeps its state between calls (S4D's complex state, each neuron's state): a call does not
reset it, so a long text may be fed in chunks of any sizes, or one token at a time after
``set_step_mode(model, "s")`` (``[B]`` tokens -> ``[B, V]`` logits), and gives the logits one call over
the whole text gives. Call :func:`paraspike.neurons.reset_net` before every new text.
:mod:`paraspike.models.lm_stream` runs long texts in constant memory and generates text.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paraspike.models.s4d import S4D
from paraspike.neurons import build_neuron
from paraspike.neurons.base import StepModeMixin

__all__ = ["SpikingSSMBlock", "SpikingSSMLM"]


class SpikingSSMBlock(StepModeMixin, nn.Module):
    """One pre-norm spiking SSM block ``[L, B, H]`` -> ``[L, B, H]`` (``[B, H]`` in single-step mode)."""

    def __init__(
        self,
        dim: int,
        neuron: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        steps: int | None = None,
        d_state: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.step_mode = "m"
        self.norm = nn.LayerNorm(dim)
        self.ssm = S4D(dim, d_state)
        self.ln_vth = nn.Parameter(torch.zeros(dim))  # per-channel threshold scale exp(ln_vth)
        self.neuron = build_neuron(neuron, channels=dim, steps=steps, **(neuron_options or {}))
        self.dropout = nn.Dropout(dropout)
        self.mix = nn.Linear(dim, 2 * dim)

    def forward(self, x: Tensor) -> Tensor:
        spikes = self.neuron(self.ssm(self.norm(x)) / torch.exp(self.ln_vth))
        return x + self.dropout(F.glu(self.mix(self.dropout(spikes)), dim=-1))


class SpikingSSMLM(StepModeMixin, nn.Module):
    """Spiking SSM language model: tokens ``[B, L]`` -> logits ``[B, L, V]`` (see the module doc).

    Args:
        vocab: vocabulary size ``V``.
        dim: channels ``H``; depth: blocks.
        neuron: any registry neuron (``identity`` for the non-spiking reference).
        neuron_options: keyword options of that neuron.
        steps: the training context (what a neuron tied to a length, masked PSN, is built for).
        d_state: S4D state size; dropout: on the spikes and the block output.
    """

    def __init__(
        self,
        vocab: int,
        dim: int = 128,
        depth: int = 4,
        neuron: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        steps: int | None = None,
        d_state: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.step_mode = "m"
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, dim)
        nn.init.normal_(self.embed.weight, std=dim**-0.5)
        self.blocks = nn.ModuleList(
            SpikingSSMBlock(dim, neuron, neuron_options, steps, d_state, dropout) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor) -> Tensor:
        multi = self.step_mode == "m"
        if tokens.dim() != (2 if multi else 1) or tokens.dtype not in (torch.int64, torch.int32, torch.uint8):
            shape = "[B, L]" if multi else "[B]"
            raise ValueError(
                f"SpikingSSMLM in step_mode={self.step_mode!r} expects integer tokens {shape}, got "
                f"{tuple(tokens.shape)} {tokens.dtype}"
            )
        x = self.embed(tokens.long().t() if multi else tokens.long())  # [L, B, H] or [B, H]
        for block in self.blocks:
            x = block(x)
        logits = self.norm(x) @ self.embed.weight.t()
        return logits.transpose(0, 1) if multi else logits

    def parameter_counts(self) -> dict[str, int]:
        """Parameters in total and by part: the neurons' own (decay generators, PSN weights), the S4D
        layers', and the rest (embedding, norms, GLU mixers, thresholds)."""
        neurons = sum(p.numel() for b in self.blocks for p in b.neuron.parameters())
        ssm = sum(p.numel() for b in self.blocks for p in b.ssm.parameters())
        total = sum(p.numel() for p in self.parameters())
        return {"total": total, "neurons": neurons, "ssm": ssm, "other": total - neurons - ssm}
