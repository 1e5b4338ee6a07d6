r"""Actors and critics for continuous control (spec ``tasks.md`` section 3, after PopSAN).

:class:`SpikingActor` maps an observation ``[B, D]`` to an action ``[B, A]`` in ``[-1, 1]``:

1. Population encoder: each observation dimension ``d`` is read by ``P`` Gaussian receptive fields
   (learnable means ``mu``, initialised evenly over ``(-1, 1)``, learnable deviations ``sigma``, initially
   ``sqrt(0.05)``): ``a_{d,p} = exp(-(o_d - mu_{d,p})^2 / (2 sigma_{d,p}^2))``, turned into deterministic
   (regular) spikes over ``T`` steps by an integrator ``v += a; s = [v >= 1 - eps]; v -= s`` whose
   gradient passes straight through (``ds/da = 1``).
2. Hidden layers ``Linear -> neuron`` (any registry neuron) over the ``T`` steps, then
   ``Linear(-> A * P_out) -> neuron``.
3. Population decoder: the output spikes' mean over ``T`` per action population, a grouped linear map
   (one weight vector per action over its ``P_out`` neurons) and ``tanh``.

``state="reset"`` (the published protocol) starts every environment step from a fresh state;
``state="carry"`` keeps the encoder's and neurons' state from step to step (call :meth:`reset` at the
end of an episode): then the actions of an episode equal those of one multi-step call over its
observations, each repeated ``T`` times (:meth:`actions_over_steps`). :class:`MLPActor` is the ANN
reference of the same widths; :class:`TwinCritic` TD3's two Q networks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from paraspike.neurons import build_neuron, reset_net
from paraspike.neurons.base import MemoryModule

__all__ = ["PopulationEncoder", "SpikingActor", "MLPActor", "TwinCritic"]

_REGULAR_THRESHOLD = 0.999


class _StraightThroughSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, v: Tensor) -> Tensor:  # noqa: ANN401
        return (v >= _REGULAR_THRESHOLD).to(v.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # noqa: ANN401
        return grad


class PopulationEncoder(MemoryModule):
    """Observation ``[B, D]`` -> regular spikes ``[T, B, D * P]`` (see the module doc); the integrator's
    voltage is the state."""

    def __init__(self, observations: int, population: int = 10, steps: int = 5, std: float = math.sqrt(0.05)) -> None:
        super().__init__("m")
        self.observations, self.population, self.steps = observations, population, steps
        means = torch.linspace(-1.0, 1.0, population + 2)[1:-1] if population > 1 else torch.zeros(1)
        self.mean = nn.Parameter(means.repeat(observations, 1))  # [D, P]
        self.std = nn.Parameter(torch.full((observations, population), std))
        self.register_memory("v")

    def activation(self, obs: Tensor) -> Tensor:
        """Receptive-field activations ``[B, D * P]`` in ``(0, 1]``."""
        a = torch.exp(-0.5 * ((obs.unsqueeze(-1) - self.mean) / self.std) ** 2)
        return a.flatten(-2)

    def multi_step_forward(self, obs: Tensor) -> Tensor:
        a = self.activation(obs)
        v = self.v if self.v is not None else torch.zeros_like(a)
        spikes = []
        for _ in range(self.steps):
            v = v + a
            s = _StraightThroughSpike.apply(v)
            v = v - s.detach() * _REGULAR_THRESHOLD
            spikes.append(s)
        self.v = v
        return torch.stack(spikes)


class SpikingActor(nn.Module):
    """Population-coded spiking actor ``[B, D]`` -> ``[B, A]`` (see the module doc).

    Args:
        observations: ``D``, the observation size.
        actions: ``A``, the action size.
        neuron: any registry neuron (``identity`` makes a non-spiking network of the same
            shape, but prefer :class:`MLPActor` as the ANN reference).
        neuron_options: keyword options of that neuron.
        hidden: widths of the hidden layers.
        steps: ``T`` neuron steps per environment step.
        population: receptive fields per observation dimension.
        output_population: neurons per action.
        state: ``"reset"`` or ``"carry"`` across environment steps.
    """

    def __init__(
        self,
        observations: int,
        actions: int,
        neuron: str = "dsn",
        neuron_options: dict[str, Any] | None = None,
        hidden: tuple[int, ...] = (256, 256),
        steps: int = 5,
        population: int = 10,
        output_population: int = 10,
        state: str = "reset",
    ) -> None:
        super().__init__()
        if state not in ("reset", "carry"):
            raise ValueError(f"SpikingActor state must be 'reset' or 'carry', got {state!r}")
        self.actions, self.steps, self.state, self.output_population = actions, steps, state, output_population
        self.encoder = PopulationEncoder(observations, population, steps)
        widths = [observations * population, *hidden, actions * output_population]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [
                nn.Linear(fan_in, fan_out),
                build_neuron(neuron, channels=fan_out, steps=steps, **(neuron_options or {})),
            ]
        self.body = nn.Sequential(*layers)
        self.decoder = nn.Conv1d(actions, actions, output_population, groups=actions)  # one map per action

    def reset(self) -> None:
        """Forget the state (the end of an episode)."""
        reset_net(self)

    def _decode(self, spikes: Tensor) -> Tensor:
        rates = spikes.mean(0).unflatten(-1, (self.actions, self.output_population))  # [B, A, P_out]
        return torch.tanh(self.decoder(rates).squeeze(-1))

    def forward(self, obs: Tensor) -> Tensor:
        if obs.dim() != 2:
            raise ValueError(f"SpikingActor expects observations [B, D], got shape {tuple(obs.shape)}")
        if self.state == "reset":
            self.reset()
        return self._decode(self.body(self.encoder(obs)))

    def actions_over_steps(self, observations: Tensor) -> Tensor:
        """Actions ``[W, B, A]`` for ``W`` consecutive environment steps ``[W, B, D]`` read from a fresh
        state with the state carried: one multi-step call of ``W * T`` neuron steps."""
        self.reset()
        spikes = torch.cat([self.encoder(o) for o in observations])  # [W * T, B, D * P] (the encoder loops)
        out = self.body(spikes).unflatten(0, (observations.shape[0], self.steps))  # [W, T, B, A * P_out]
        actions = torch.stack([self._decode(step) for step in out])
        self.reset()
        return actions


class MLPActor(nn.Module):
    """The ANN reference actor: ``Linear -> ReLU`` over the same hidden widths, ``tanh`` output."""

    def __init__(self, observations: int, actions: int, hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        widths = [observations, *hidden]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], actions), nn.Tanh())
        self.state = "reset"

    def reset(self) -> None:
        """Nothing to forget."""

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs)


class TwinCritic(nn.Module):
    """TD3's two Q networks ``Q_i(s, a)`` (``Linear -> ReLU`` over ``hidden``); returns both ``[B, 1]``."""

    def __init__(self, observations: int, actions: int, hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()

        def q() -> nn.Sequential:
            widths = [observations + actions, *hidden]
            layers: list[nn.Module] = []
            for fan_in, fan_out in zip(widths, widths[1:], strict=False):
                layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
            return nn.Sequential(*layers, nn.Linear(widths[-1], 1))

        self.q1, self.q2 = q(), q()

    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x), self.q2(x)
