"""TD3's replay buffer, with windows of consecutive steps for actors that carry a state.

Transitions ``(o, a, r, o', not_done)`` are kept in a ring of ``capacity``; ``not_done`` is 0 only when
the episode *terminated* (a time-limit truncation still bootstraps). Each transition also records the
index of its episode's first transition, so :meth:`ReplayBuffer.sample` can return windows of ``W``
consecutive steps of one episode: a window ending at a uniformly drawn step ``j`` covers
``j - W + 1 .. j``; one that would cross its episode's start is moved to begin at that start (an
episode shorter than ``W`` is drawn again). ``from_start[b]`` says whether window ``b`` begins where its
episode begins (then a state built over the window is the state the actor had while acting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["ReplayBuffer", "Windows"]


@dataclass
class Windows:
    """``[W, B, ...]`` tensors of ``B`` windows of ``W`` steps; ``from_start`` ``[B]`` (bool)."""

    obs: Tensor
    action: Tensor
    reward: Tensor
    next_obs: Tensor
    not_done: Tensor
    from_start: Tensor


class ReplayBuffer:
    """A ring buffer of transitions (see the module doc)."""

    def __init__(self, observations: int, actions: int, capacity: int) -> None:
        self.capacity, self.size, self.position, self.total = capacity, 0, 0, 0
        self.obs = np.zeros((capacity, observations), dtype=np.float32)
        self.next_obs = np.zeros((capacity, observations), dtype=np.float32)
        self.action = np.zeros((capacity, actions), dtype=np.float32)
        self.reward = np.zeros((capacity, 1), dtype=np.float32)
        self.not_done = np.zeros((capacity, 1), dtype=np.float32)
        self.start = np.zeros(capacity, dtype=np.int64)  # the absolute index of the episode's first step
        self.episode_start = 0  # absolute index where the current episode began

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        i = self.position
        self.obs[i], self.action[i], self.next_obs[i] = obs, action, next_obs
        self.reward[i], self.not_done[i] = reward, 0.0 if terminated else 1.0
        self.start[i] = self.episode_start
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.total += 1

    def end_episode(self) -> None:
        """The next transition begins a new episode."""
        self.episode_start = self.total

    def sample(self, batch: int, window: int, generator: np.random.Generator) -> Windows:
        """``batch`` windows of ``window`` consecutive steps of one episode each (``window=1``: single
        transitions)."""
        oldest = self.total - self.size  # absolute index of the oldest kept transition
        ends: list[int] = []
        from_start: list[bool] = []
        while len(ends) < batch:
            end = int(generator.integers(oldest, self.total))
            first = max(end - window + 1, int(self.start[end % self.capacity]), oldest)
            begins = first == int(self.start[end % self.capacity])
            first_end = first + window - 1
            if first_end >= self.total or int(self.start[first_end % self.capacity]) != int(
                self.start[first % self.capacity]
            ):
                continue  # the episode is shorter than the window (or still running): draw again
            ends.append(first_end)
            from_start.append(begins)
        index = (np.asarray(ends)[None, :] - np.arange(window - 1, -1, -1)[:, None]) % self.capacity  # [W, B]

        def take(array: np.ndarray) -> Tensor:
            return torch.from_numpy(array[index])

        return Windows(
            take(self.obs),
            take(self.action),
            take(self.reward),
            take(self.next_obs),
            take(self.not_done),
            torch.tensor(from_start),
        )

    def state_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in ("obs", "next_obs", "action", "reward", "not_done", "start")} | {
            "size": self.size,
            "position": self.position,
            "total": self.total,
            "episode_start": self.episode_start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a saved buffer; this buffer's capacity may differ (a resumed run planned longer): the
        newest transitions that fit are kept, each at its absolute index modulo the capacity."""
        saved_capacity, total = len(state["obs"]), int(state["total"])
        kept = min(int(state["size"]), self.capacity)
        absolute = np.arange(total - kept, total)
        for key in ("obs", "next_obs", "action", "reward", "not_done", "start"):
            getattr(self, key)[absolute % self.capacity] = state[key][absolute % saved_capacity]
        self.size, self.total, self.position = kept, total, total % self.capacity
        self.episode_start = int(state["episode_start"])
