r"""Spiking Transformers for multivariate time-series forecasting (the paper's second architecture),
any registry neuron by name; ``neuron="gelu"`` or ``"identity"`` gives the non-spiking reference with
the same layers (``softmax=True`` for softmax attention in :class:`Spikformer`).

:class:`Spikformer`, SeqSNN's encoding (spec ``tasks.md`` section 2): input ``[B, L, C]`` (window
``L``, ``C`` variables)::

    Conv2d(1 -> T, (1, 3)) + BatchNorm + neuron      -> T spike steps [T, B, C, L]
    per token: Linear(C -> dim) (+ position) + BatchNorm + neuron -> [T, B, L, dim]
    depth x (x + SpikeSelfAttention(x); x + MLP(x))  MLP: Linear(dim -> d_ff) + BN + neuron, Linear + BN + neuron
    mean over T and L -> Linear(dim -> horizon * C)  -> [B, horizon, C]

Position (DECIDED): SeqSNN's default has no positional encoding; attention without one is
equivariant to permuting the tokens and the head averages over them, so the network cannot tell the
order of the window's time points apart (only the encoder's 3-tap conv sees local order) and, for
instance, cannot forecast the phase of a periodic series. ``position="learned"`` (the default here)
adds a learned embedding ``[L, dim]`` to the tokens before their first neuron; ``position="none"``
is SeqSNN's form. ``revin=True`` standardises each window by its own mean and deviation per variable
and maps the forecast back (:class:`~paraspike.models.window_norm.WindowNorm`; off in SeqSNN).

:class:`CausalSpikformer`, the series' own time as the neurons' time: one step per time point, so
the model runs online over a live series (``predict_online``: single-step mode, the state carried),
giving what the parallel call gives::

    per step: Linear(C -> dim) + BatchNorm + neuron  -> [L, B, dim]
    depth x (x + CausalSpikeSelfAttention(x); x + MLP(x))
    features of the last step -> Linear(dim -> horizon * C)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from paraspike.models.attention import (
    CausalSpikeSelfAttention,
    FeatureNeuron,
    FeatureNorm,
    LinearNormNeuron,
    SpikeSelfAttention,
)
from paraspike.models.window_norm import WindowNorm
from paraspike.neurons import build_neuron, reset_net
from paraspike.nn import set_step_mode

__all__ = ["Spikformer", "CausalSpikformer"]


class _MLP(nn.Sequential):
    def __init__(self, dim: int, d_ff: int, neuron: str, steps: int, options: dict[str, Any] | None) -> None:
        super().__init__(
            LinearNormNeuron(dim, d_ff, neuron, steps, options), LinearNormNeuron(d_ff, dim, neuron, steps, options)
        )


class _Block(nn.Module):
    def __init__(self, attention: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.attention, self.mlp = attention, mlp

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(x)
        return x + self.mlp(x)


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class Spikformer(nn.Module):
    """SeqSNN's spiking Transformer for series: ``[B, L, C]`` -> ``[B, horizon, C]`` (see the module doc)."""

    def __init__(
        self,
        variables: int,
        window: int,
        horizon: int,
        neuron: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        dim: int = 256,
        d_ff: int | None = None,
        depth: int = 2,
        heads: int = 8,
        steps: int = 4,
        softmax: bool = False,
        qk_scale: float = 0.125,
        position: str = "learned",
        revin: bool = False,
    ) -> None:
        super().__init__()
        self.window_norm = WindowNorm() if revin else None
        if position not in ("learned", "none"):
            raise ValueError(f"position must be 'learned' or 'none', got {position!r}")
        self.variables, self.horizon, self.steps = variables, horizon, steps
        self.encode = nn.Sequential(nn.Conv2d(1, steps, (1, 3), padding=(0, 1)), nn.BatchNorm2d(steps))
        self.encode_neuron = build_neuron(neuron, channels=variables, steps=steps, **(neuron_options or {}))
        self.token = nn.Linear(variables, dim)
        self.position = nn.Parameter(torch.randn(window, dim) * 0.02) if position == "learned" else None
        self.embed = nn.Sequential(FeatureNorm(dim), FeatureNeuron(neuron, dim, steps, neuron_options))
        self.blocks = nn.Sequential(
            *[
                _Block(
                    SpikeSelfAttention(dim, heads, neuron, steps, neuron_options, qk_scale, softmax),
                    _MLP(dim, d_ff or 4 * dim, neuron, steps, neuron_options),
                )
                for _ in range(depth)
            ]
        )
        self.head = nn.Linear(dim, horizon * variables)
        self.apply(_init)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.variables:
            raise ValueError(f"Spikformer expects [B, L, {self.variables}] windows, got shape {tuple(x.shape)}")
        reset_net(self)
        batch, window, variables = x.shape
        if self.window_norm is not None:
            x, stats = self.window_norm.normalize(x)
        steps = self.encode(x.transpose(1, 2).unsqueeze(1)).permute(1, 0, 2, 3)  # [T, B, C, L]
        spikes = self.encode_neuron(steps)  # variables as channels, the window as a spatial dimension
        tokens = self.token(spikes.transpose(2, 3))  # [T, B, L, dim]
        if self.position is not None:
            tokens = tokens + self.position
        tokens = self.blocks(self.embed(tokens))
        forecast = self.head(tokens.mean((0, 2))).view(batch, self.horizon, variables)
        return forecast if self.window_norm is None else self.window_norm.restore(forecast, stats)


class CausalSpikformer(nn.Module):
    """A causal spiking Transformer over the series' own time axis: ``[B, L, C]`` -> ``[B, horizon, C]``;
    :meth:`predict_online` feeds one time point at a time (see the module doc)."""

    def __init__(
        self,
        variables: int,
        window: int,
        horizon: int,
        neuron: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        dim: int = 256,
        d_ff: int | None = None,
        depth: int = 2,
        heads: int = 8,
        qk_scale: float = 0.125,
    ) -> None:
        super().__init__()
        self.variables, self.horizon = variables, horizon
        self.embed = nn.Sequential(
            nn.Linear(variables, dim), FeatureNorm(dim), FeatureNeuron(neuron, dim, window, neuron_options)
        )
        self.blocks = nn.Sequential(
            *[
                _Block(
                    CausalSpikeSelfAttention(dim, heads, neuron, window, neuron_options, qk_scale),
                    _MLP(dim, d_ff or 4 * dim, neuron, window, neuron_options),
                )
                for _ in range(depth)
            ]
        )
        self.head = nn.Linear(dim, horizon * variables)
        self.apply(_init)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.variables:
            raise ValueError(f"CausalSpikformer expects [B, L, {self.variables}] windows, got shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        """The forecast after the whole window, all steps in parallel."""
        self._check(x)
        reset_net(self)
        features = self.blocks(self.embed(x.transpose(0, 1)))  # [L, B, dim]
        return self.head(features[-1]).view(x.shape[0], self.horizon, self.variables)

    @torch.no_grad()
    def predict_online(self, x: Tensor) -> Tensor:
        """The same forecast computed one time point at a time (single-step mode, state carried), as a
        deployed model would on a live series. Use in eval mode (BatchNorm's running statistics)."""
        self._check(x)
        reset_net(self)
        set_step_mode(self, "s")
        try:
            for point in x.unbind(1):  # [B, C] per time point
                features = self.blocks(self.embed(point))
        finally:
            set_step_mode(self, "m")
            reset_net(self)
        return self.head(features).view(x.shape[0], self.horizon, self.variables)
