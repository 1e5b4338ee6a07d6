"""Reinforcement learning: TD3 with spiking actors (:mod:`paraspike.tasks.rl.loop`)."""

from paraspike.tasks.rl.buffer import ReplayBuffer, Windows
from paraspike.tasks.rl.loop import build_agent, evaluate, make_env, run_rl
from paraspike.tasks.rl.td3 import TD3

__all__ = ["ReplayBuffer", "Windows", "TD3", "build_agent", "evaluate", "make_env", "run_rl"]
