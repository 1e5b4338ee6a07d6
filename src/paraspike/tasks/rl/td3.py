r"""TD3 (Fujimoto et al., 2018) for any actor module, including spiking actors that carry a state.

One update on ``B`` windows of ``W`` steps (``W = 1``: single transitions, the published protocol):

.. math::
    \tilde a' = \mathrm{clip}(\pi_{\bar\phi}(o') + \mathrm{clip}(\epsilon, -c, c), -1, 1), \quad
    \epsilon \sim \mathcal N(0, \sigma^2)

    y = r + \gamma\, (1 - d) \min_i Q_{\bar\theta_i}(o', \tilde a'), \quad
    L_Q = \textstyle\sum_i \mathrm{mean}_{\text{mask}} (Q_{\theta_i}(o, a) - y)^2

and every ``policy_delay``-th update :math:`L_\pi = -\mathrm{mean}_{\text{mask}} Q_{\theta_1}(o, \pi_\phi(o))`
followed by the soft target updates :math:`\bar\theta \leftarrow \tau\theta + (1-\tau)\bar\theta` (and the
same for :math:`\bar\phi`). Actions live in ``[-1, 1]`` (the loop scales them to the environment's box).

An actor with ``state == "carry"`` is run over each window with its state carried from the window's
first step (:meth:`~paraspike.models.popsan.SpikingActor.actions_over_steps`); the first ``burn_in``
steps of a window only build the state and are masked out of both losses, unless the window begins
where its episode begins (then every step's state is the acting state).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from paraspike.neurons.base import MemoryModule
from paraspike.tasks.rl.buffer import Windows

__all__ = ["TD3", "stash_state", "restore_state"]


def stash_state(model: nn.Module) -> list[tuple[MemoryModule, dict[str, Any]]]:
    """The state of every stateful module of ``model`` (to put back with :func:`restore_state`)."""
    stateful = [m for m in model.modules() if isinstance(m, MemoryModule)]
    return [(m, {name: getattr(m, name) for name in m._memory_names}) for m in stateful]


def restore_state(saved: list[tuple[MemoryModule, dict[str, Any]]]) -> None:
    for module, values in saved:
        for name, value in values.items():
            setattr(module, name, value)


class TD3:
    """Twin delayed DDPG with an actor of any kind (see the module doc).

    Args:
        actor: ``[B, D] -> [B, A]`` in ``[-1, 1]``, with ``state`` (``"reset"`` or ``"carry"``) and ``reset()``.
        critic: :class:`~paraspike.models.popsan.TwinCritic`.
        settings: the config's ``rl`` section (``actor_lr``, ``critic_lr``, ``discount``, ``tau``,
            ``target_noise``, ``target_noise_clip``, ``policy_delay``, ``burn_in``).
    """

    def __init__(self, actor: nn.Module, critic: nn.Module, settings: dict[str, Any]) -> None:
        self.actor, self.critic = actor, critic
        self.actor_target, self.critic_target = copy.deepcopy(actor), copy.deepcopy(critic)
        for parameter in [*self.actor_target.parameters(), *self.critic_target.parameters()]:
            parameter.requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(actor.parameters(), lr=settings["actor_lr"])
        self.critic_optimizer = torch.optim.Adam(critic.parameters(), lr=settings["critic_lr"])
        self.settings = settings
        self.updates = 0

    def actions(self, actor: nn.Module, obs: Tensor) -> Tensor:
        """``[W, B, A]`` for observations ``[W, B, D]``: a carrying actor runs over the window with its state
        carried; any other actor reads every step from a fresh state."""
        if getattr(actor, "state", "reset") == "carry":
            return actor.actions_over_steps(obs)
        return actor(obs.flatten(0, 1)).unflatten(0, obs.shape[:2])

    @torch.no_grad()
    def act(self, obs: Tensor) -> Tensor:
        """The deterministic action ``[A]`` for one observation ``[D]`` (a carrying actor keeps its state)."""
        return self.actor(obs.unsqueeze(0))[0]

    def _mask(self, windows: Windows) -> Tensor:
        steps = torch.arange(windows.obs.shape[0]).unsqueeze(1)
        keep = (steps >= self.settings["burn_in"]) | windows.from_start.unsqueeze(0)
        if windows.obs.shape[0] == 1:
            keep = torch.ones_like(keep)
        return keep.unsqueeze(-1).float()  # [W, B, 1]

    def update(self, windows: Windows) -> dict[str, float]:
        """One critic update and, every ``policy_delay``-th call, an actor update and the target updates.
        Returns the losses (``actor_loss`` only when the actor was updated)."""
        s = self.settings
        mask = self._mask(windows)
        count = mask.sum().clamp(min=1.0)
        acting = stash_state(self.actor)  # a carrying actor's acting state survives the update
        try:
            with torch.no_grad():
                noise = (torch.randn_like(windows.action) * s["target_noise"]).clamp(
                    -s["target_noise_clip"], s["target_noise_clip"]
                )
                next_action = (self.actions(self.actor_target, windows.next_obs) + noise).clamp(-1.0, 1.0)
                target_q1, target_q2 = self.critic_target(windows.next_obs, next_action)
                target = windows.reward + windows.not_done * s["discount"] * torch.min(target_q1, target_q2)
            q1, q2 = self.critic(windows.obs, windows.action)
            critic_loss = ((((q1 - target) ** 2) + ((q2 - target) ** 2)) * mask).sum() / count
            self.critic_optimizer.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_optimizer.step()
            self.updates += 1
            losses = {"critic_loss": critic_loss.detach().item()}
            if self.updates % s["policy_delay"] == 0:
                chosen = self.actions(self.actor, windows.obs)
                actor_loss = -(self.critic.q1(torch.cat([windows.obs, chosen], -1)) * mask).sum() / count
                self.actor_optimizer.zero_grad(set_to_none=True)
                actor_loss.backward()
                self.actor_optimizer.step()
                self._soft_update()
                losses["actor_loss"] = actor_loss.detach().item()
        finally:
            restore_state(acting)
        return losses

    @torch.no_grad()
    def _soft_update(self) -> None:
        tau = self.settings["tau"]
        for net, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
            for p, p_target in zip(net.parameters(), target.parameters(), strict=True):
                p_target.lerp_(p, tau)
            for b, b_target in zip(net.buffers(), target.buffers(), strict=True):
                b_target.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_optimizer", "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.updates = state["updates"]
