"""``paraspike train --config configs/rl_<env>.yaml``: TD3 with a spiking (or ANN) actor on a gymnasium
environment, evaluated periodically, checkpointed, resumable.

The loop (Fujimoto's TD3 protocol, spec ``tasks.md`` section 3): ``rl.random_steps`` uniformly random
actions, then the actor's action plus Gaussian noise (``rl.exploration_noise``), one TD3 update per
environment step (:class:`~paraspike.tasks.rl.td3.TD3`), and every ``rl.eval_every`` steps
``rl.eval_episodes`` episodes with deterministic actions on a separate environment (seeded ``seed + 100``
at the start of every evaluation, so all evaluations start from the same states). A carrying actor is
reset at the end of every episode.

The run folder gets ``config.yaml``, ``eval.csv`` and ``train.csv``, TensorBoard logs,
``checkpoints/last.pt`` (agent, optimizers, replay buffer, random states; written at every evaluation)
and ``metrics.json``. ``--resume <folder>/checkpoints/last.pt`` continues from the last evaluation; the
environment's episode in progress then restarts (a simulator's state is not saved), so a resumed run
is not bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from paraspike.models import build_model
from paraspike.models.popsan import TwinCritic
from paraspike.neurons import describe_backends
from paraspike.tasks.rl.buffer import ReplayBuffer
from paraspike.tasks.rl.td3 import TD3, restore_state, stash_state

__all__ = ["make_env", "build_agent", "evaluate", "run_rl"]


def make_env(name: str) -> Any:  # noqa: ANN401
    """``gymnasium.make(name)``, with a clear error when gymnasium or MuJoCo is missing."""
    try:
        import gymnasium as gym
    except ImportError as error:
        raise ImportError(
            "reinforcement learning needs gymnasium and mujoco: pip install 'paraspike[rl]' "
            "(or pip install 'gymnasium[mujoco]')"
        ) from error
    return gym.make(name)


def build_agent(config: dict[str, Any], observations: int, actions: int) -> TD3:
    """The configured actor (``model``), twin critic and TD3 (``rl``)."""
    model, settings = config["model"], config["rl"]
    options = dict(model["options"])
    if model["name"] == "spiking-actor":
        options.setdefault("state", settings["actor_state"])
    actor = build_model(model["name"], (observations,), actions, model["neuron"], model["neuron_options"], **options)
    critic = TwinCritic(observations, actions, tuple(settings["critic_hidden"]))
    return TD3(actor, critic, settings)


def _scale(action: np.ndarray, space: Any) -> np.ndarray:  # noqa: ANN401
    """``[-1, 1]`` to the environment's action box."""
    return space.low + (action + 1.0) * 0.5 * (space.high - space.low)


def evaluate(agent: TD3, env: Any, episodes: int, seed: int) -> list[float]:  # noqa: ANN401
    """Returns of ``episodes`` episodes with deterministic actions (the actor's state is put back after)."""
    saved = stash_state(agent.actor)
    returns = []
    try:
        obs, _ = env.reset(seed=seed)
        for _ in range(episodes):
            agent.actor.reset()
            total, done = 0.0, False
            while not done:
                action = agent.act(torch.as_tensor(obs, dtype=torch.float32)).numpy()
                obs, reward, terminated, truncated, _ = env.step(_scale(action, env.action_space))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            obs, _ = env.reset()
    finally:
        restore_state(saved)
    return returns


class _Logs:
    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = folder
        self.writer = SummaryWriter(str(folder / "tensorboard"))

    def row(self, name: str, values: dict[str, float]) -> None:
        path = self.folder / f"{name}.csv"
        new = not path.exists()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(values))
            if new:
                writer.writeheader()
            writer.writerow(values)
        step = int(values["step"])
        for key, value in values.items():
            if key != "step":
                self.writer.add_scalar(f"{name}/{key}", value, step)
        self.writer.flush()


def _random_states(generator: np.random.Generator) -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": generator.bit_generator.state, "python": random.getstate()}


def run_rl(config: dict[str, Any], folder: Path, resume: str | None = None) -> dict[str, Any]:
    """Train and evaluate (see the module doc); returns the metrics also written to ``metrics.json``."""
    from tqdm.auto import tqdm

    settings, seed = config["rl"], config["seed"]
    torch.manual_seed(seed)
    random.seed(seed)
    generator = np.random.default_rng(seed)
    env, eval_env = make_env(settings["env"]), make_env(settings["env"])
    observations, actions = env.observation_space.shape[0], env.action_space.shape[0]
    agent = build_agent(config, observations, actions)
    total_steps = settings["total_steps"]
    buffer = ReplayBuffer(observations, actions, min(settings["buffer_size"], total_steps))
    start, history, train_seconds = 0, [], 0.0
    learning = {"seconds": 0.0, "steps": 0}  # wall time of the steps taken with one update each
    if resume is not None:
        saved = torch.load(resume, map_location="cpu", weights_only=False)
        agent.load_state_dict(saved["agent"])
        buffer.load_state_dict(saved["buffer"])
        start, history, train_seconds = saved["step"], saved["history"], saved["train_seconds"]
        learning = saved.get("learning", learning)
        torch.set_rng_state(saved["random"]["torch"])
        generator.bit_generator.state = saved["random"]["numpy"]
        random.setstate(saved["random"]["python"])
        buffer.end_episode()
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    logs = _Logs(folder)
    env.action_space.seed(seed + start)
    obs, _ = env.reset(seed=seed + start)
    agent.actor.reset()
    episode_return, recent, losses = 0.0, [], {"critic_loss": float("nan"), "actor_loss": float("nan")}
    description = f"{settings['env']} {config['model']['name']} {config['model']['neuron']}"
    interactive = sys.stderr.isatty()  # in a log file, a line every 30 s rather than ten a second
    bar = tqdm(total=total_steps, initial=start, desc=description, unit="step", mininterval=0.5 if interactive else 30)
    clock = time.perf_counter()
    for step in range(start, total_steps):
        if step < settings["random_steps"]:
            action = generator.uniform(-1.0, 1.0, actions).astype(np.float32)
            if getattr(agent.actor, "state", "reset") == "carry":
                agent.act(torch.as_tensor(obs, dtype=torch.float32))  # keep the state in step with the episode
        else:
            action = agent.act(torch.as_tensor(obs, dtype=torch.float32)).numpy()
            action = np.clip(action + generator.normal(0.0, settings["exploration_noise"], actions), -1.0, 1.0)
        next_obs, reward, terminated, truncated, _ = env.step(_scale(action, env.action_space))
        buffer.add(obs, action, float(reward), next_obs, bool(terminated))
        obs, episode_return = next_obs, episode_return + float(reward)
        if terminated or truncated:
            recent = [*recent[-9:], episode_return]
            buffer.end_episode()
            agent.actor.reset()
            obs, _ = env.reset()
            episode_return = 0.0
        if step >= settings["random_steps"]:
            losses |= agent.update(buffer.sample(settings["batch_size"], settings["window"], generator))
        bar.update(1)
        if (step + 1) % 1000 == 0:
            elapsed = time.perf_counter() - clock
            train_seconds, clock = train_seconds + elapsed, time.perf_counter()
            if step + 1 - 1000 >= settings["random_steps"]:
                learning["seconds"] += elapsed
                learning["steps"] += 1000
            episodes = statistics.mean(recent) if recent else float("nan")
            logs.row("train", {"step": step + 1, **losses, "episode_return": episodes, "steps_per_s": 1000 / elapsed})
        if (step + 1) % settings["eval_every"] == 0 or step + 1 == total_steps:
            train_seconds += time.perf_counter() - clock
            returns = evaluate(agent, eval_env, settings["eval_episodes"], seed + 100)
            history.append({"step": step + 1, "mean": statistics.mean(returns), "std": statistics.pstdev(returns)})
            logs.row("eval", {"step": step + 1, "return_mean": history[-1]["mean"], "return_std": history[-1]["std"]})
            bar.set_postfix(eval_return=f"{history[-1]['mean']:.0f}")
            state = {"agent": agent.state_dict(), "buffer": buffer.state_dict(), "step": step + 1, "history": history}
            state |= {"train_seconds": train_seconds, "learning": learning, "random": _random_states(generator)}
            torch.save(state, folder / "checkpoints" / "last.pt")
            clock = time.perf_counter()
    bar.close()
    speed = learning["steps"] / learning["seconds"] if learning["seconds"] else None
    return _metrics(config, folder, agent, history, train_seconds, speed, start, total_steps, resume)


def _metrics(
    config: dict[str, Any],
    folder: Path,
    agent: TD3,
    history: list[dict[str, float]],
    train_seconds: float,
    learning_speed: float | None,
    start: int,
    total_steps: int,
    resume: str | None,
) -> dict[str, Any]:
    from paraspike.train.firing import FiringRateMonitor

    monitor = FiringRateMonitor(agent.actor)
    evaluate(agent, make_env(config["rl"]["env"]), 1, config["seed"] + 100)  # firing rates over one episode
    monitor.remove()
    metrics = {
        "name": config["name"],
        "task": "rl",
        "seed": config["seed"],
        "run_folder": str(folder),
        "env": config["rl"]["env"],
        "best_return": max(h["mean"] for h in history),
        "final_return": history[-1]["mean"],
        "evaluations": history,
        "steps": total_steps,
        "steps_per_second": (total_steps - start) / train_seconds if train_seconds else None,
        "learning_steps_per_second": learning_speed,
        "firing_rate_binary": monitor.rates(),
        "firing_rate_overall": monitor.overall(),
        "parameters": sum(p.numel() for p in agent.actor.parameters()),
        "critic_parameters": sum(p.numel() for p in agent.critic.parameters()),
        "backends": describe_backends(agent.actor, torch.device("cpu")),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "resumed_from": resume,
        "config": config,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
