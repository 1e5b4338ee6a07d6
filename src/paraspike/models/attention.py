r"""Spike-driven self-attention (Spikformer / SeqSNN), any registry neuron by name.

Tokens carry features in the last dimension. ``q``, ``k``, ``v`` each come from Linear -> BatchNorm ->
neuron, so they are spikes; attention has no softmax::

    A = (q k^T) * scale,   out = A v,   then neuron (threshold V_th / 2) -> Linear -> BatchNorm -> neuron

per head. Two token layouts:

* :class:`SpikeSelfAttention`: ``[T, B, L, D]``, ``T`` neuron steps over ``L`` tokens (SeqSNN's
  encoding); every token attends to every token at the same step. ``softmax=True`` (a non-spiking
  reference) normalises ``A`` over the keys.
* :class:`CausalSpikeSelfAttention`: ``[L, B, D]``, the neuron's time axis is the series itself;
  token ``t`` attends to tokens ``s <= t``. Without softmax this is a linear attention,
  ``out_t = q_t S_t`` with ``S_t = S_{t-1} + k_t^T v_t``, so the layer also runs one step at a time
  (``step_mode='s'``, state ``S`` ``[B, heads, D/h, D/h]``) or chunk by chunk, giving what one
  parallel call gives.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from paraspike.neurons import MemoryModule, accepts_threshold, build_neuron
from paraspike.neurons.base import StepModeMixin

__all__ = ["FeatureNorm", "FeatureNeuron", "LinearNormNeuron", "SpikeSelfAttention", "CausalSpikeSelfAttention"]


class FeatureNorm(nn.Module):
    """BatchNorm1d over the last dimension of ``[..., D]`` (statistics over every leading position)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class FeatureNeuron(StepModeMixin, nn.Module):
    """A registry neuron over features in the last dimension: multi-step input ``[T, ..., D]`` (the
    neuron sees ``[T, N, D]``), single-step input ``[..., D]`` (it sees ``[N, D]``)."""

    def __init__(
        self, name: str, dim: int, steps: int, options: dict[str, Any] | None = None, threshold: float | None = None
    ) -> None:
        super().__init__()
        options = dict(options or {})
        if threshold is not None and accepts_threshold(name):
            options["v_threshold"] = threshold
        self.neuron = build_neuron(name, channels=dim, steps=steps, **options)
        self._step_mode = "m"

    @property
    def step_mode(self) -> str:
        return self._step_mode

    @step_mode.setter
    def step_mode(self, value: str) -> None:
        self._step_mode = value
        if hasattr(self, "neuron"):
            self.neuron.step_mode = value

    def forward(self, x: Tensor) -> Tensor:
        if self.step_mode == "m":
            return self.neuron(x.reshape(x.shape[0], -1, x.shape[-1])).reshape(x.shape)
        return self.neuron(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class LinearNormNeuron(nn.Sequential):
    """Linear -> FeatureNorm -> FeatureNeuron over the last dimension."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        neuron: str,
        steps: int,
        options: dict[str, Any] | None,
        threshold: float | None = None,
    ) -> None:
        super().__init__(
            nn.Linear(d_in, d_out), FeatureNorm(d_out), FeatureNeuron(neuron, d_out, steps, options, threshold)
        )


class _Projections(nn.Module):
    def __init__(self, dim: int, heads: int, neuron: str, steps: int, options: dict[str, Any] | None) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be a multiple of heads {heads}")
        self.heads = heads
        self.q = LinearNormNeuron(dim, dim, neuron, steps, options)
        self.k = LinearNormNeuron(dim, dim, neuron, steps, options)
        self.v = LinearNormNeuron(dim, dim, neuron, steps, options)
        self.attn_neuron = FeatureNeuron(neuron, dim, steps, options, threshold=0.5)
        self.out = LinearNormNeuron(dim, dim, neuron, steps, options)

    def split(self, x: Tensor) -> Tensor:
        """``[..., L, D]`` -> ``[..., heads, L, D/heads]``."""
        return x.unflatten(-1, (self.heads, -1)).transpose(-3, -2)

    def merge(self, x: Tensor) -> Tensor:
        """``[..., heads, L, D/heads]`` -> ``[..., L, D]``."""
        return x.transpose(-3, -2).flatten(-2)


class SpikeSelfAttention(nn.Module):
    """Spikformer attention over ``[T, B, L, D]`` (see the module doc)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        neuron: str,
        steps: int,
        options: dict[str, Any] | None = None,
        scale: float = 0.125,
        softmax: bool = False,
    ) -> None:
        super().__init__()
        self.p = _Projections(dim, heads, neuron, steps, options)
        self.scale, self.softmax = scale, softmax

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = (self.p.split(proj(x)) for proj in (self.p.q, self.p.k, self.p.v))  # [T, B, h, L, D/h]
        if self.softmax:
            mixed = ((q @ k.transpose(-2, -1)) * self.scale).softmax(-1) @ v
        elif q.shape[-2] > q.shape[-1]:
            # Without softmax (q k^T) v = q (k^T v): L d^2 instead of L^2 d multiply-adds per head, and the
            # same numbers for spikes and a power-of-two scale (integer sums: exact in either order).
            mixed = q @ ((k.transpose(-2, -1) @ v) * self.scale)
        else:
            mixed = ((q @ k.transpose(-2, -1)) * self.scale) @ v
        return self.p.out(self.p.attn_neuron(self.p.merge(mixed)))


class CausalSpikeSelfAttention(MemoryModule):
    """Causal linear spike attention over ``[L, B, D]`` (multi-step) or ``[B, D]`` (single step), with
    the key-value state carried between calls (see the module doc)."""

    def __init__(
        self, dim: int, heads: int, neuron: str, steps: int, options: dict[str, Any] | None = None, scale: float = 0.125
    ) -> None:
        super().__init__()
        self.p = _Projections(dim, heads, neuron, steps, options)
        self.scale = scale
        self.register_memory("kv")

    def _set_submodule_modes(self) -> None:
        for module in self.p.modules():
            if isinstance(module, FeatureNeuron):
                module.step_mode = self.step_mode

    def multi_step_forward(self, x: Tensor) -> Tensor:
        self._set_submodule_modes()
        q, k, v = (self.p.split(proj(x).transpose(0, 1)) for proj in (self.p.q, self.p.k, self.p.v))  # [B, h, L, d]
        steps = x.shape[0]
        mask = torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril()
        out = ((q @ k.transpose(-2, -1)) * mask) @ v
        if self.kv is not None:  # what earlier calls contributed: q_t S_prev
            out = out + q @ self.kv
        self.kv = (self.kv if self.kv is not None else 0) + k.transpose(-2, -1) @ v
        return self.p.out(self.p.attn_neuron(self.p.merge(out * self.scale).transpose(0, 1)))

    def single_step_forward(self, x: Tensor) -> Tensor:
        self._set_submodule_modes()
        q, k, v = (proj(x).unflatten(-1, (self.p.heads, -1)).unsqueeze(-2) for proj in (self.p.q, self.p.k, self.p.v))
        kv = k.transpose(-2, -1) @ v  # [B, h, d, d]
        self.kv = kv if self.kv is None else self.kv + kv
        out = (q @ self.kv).squeeze(-2).flatten(-2)  # [B, D]
        return self.p.out(self.p.attn_neuron(out * self.scale))
