"""Reinforcement learning (issue 14): the population-coded actors, the replay windows, TD3's update and
the training loop on the real simulator (gymnasium MuJoCo Hopper, classic-control Pendulum)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from paraspike.models.popsan import MLPActor, PopulationEncoder, SpikingActor, TwinCritic
from paraspike.tasks.rl.buffer import ReplayBuffer
from paraspike.tasks.rl.td3 import TD3

SETTINGS = {
    "actor_lr": 3e-4,
    "critic_lr": 3e-4,
    "discount": 0.99,
    "tau": 0.005,
    "target_noise": 0.2,
    "target_noise_clip": 0.5,
    "policy_delay": 2,
    "burn_in": 2,
}


def _actor(neuron: str, state: str = "reset") -> SpikingActor:
    torch.manual_seed(0)
    actor = SpikingActor(4, 2, neuron, hidden=(16, 16), steps=5, population=6, output_population=4, state=state)
    with torch.no_grad():  # larger weights than the default init, so that every layer fires in these small tests
        for layer in actor.body:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(10.0)
    return actor


def test_population_encoder_fires_regularly_at_its_activation_and_passes_gradients():
    encoder = PopulationEncoder(2, population=3, steps=10)
    obs = torch.tensor([[0.0, 0.9]], requires_grad=True)
    spikes = encoder(obs)
    assert spikes.shape == (10, 1, 6) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = spikes.mean(0)
    activation = encoder.activation(obs)
    assert torch.all((rate - activation).abs() <= 0.1 + 1e-6)  # T a spikes, give or take one
    spikes.sum().backward()
    assert encoder.mean.grad.abs().sum() > 0 and obs.grad.abs().sum() > 0  # straight through


@pytest.mark.parametrize("neuron", ["dsn", "dsn-binary", "lif"])
def test_actions_are_bounded_and_reset_mode_forgets(neuron):
    actor = _actor(neuron)
    obs = torch.randn(7, 4)
    action = actor(obs)
    assert action.shape == (7, 2) and action.abs().max() <= 1.0
    assert action.std(0).max() > 0  # the action depends on the observation
    torch.testing.assert_close(actor(obs), action)  # every call starts afresh
    with torch.no_grad():
        actor.decoder.weight.mul_(1e4)  # saturate the decoder: tanh keeps every action in [-1, 1]
    assert actor(obs).abs().max() <= 1.0


@pytest.mark.parametrize("neuron", ["dsn", "dsn-binary", "lif", "sliding-psn"])
def test_carried_state_actions_equal_one_multi_step_call_over_the_episode(neuron):
    actor = _actor(neuron, state="carry").double()
    episode = torch.randn(9, 3, 4, dtype=torch.float64)  # 9 environment steps of 3 parallel episodes
    actor.reset()
    stepped = torch.stack([actor(o) for o in episode])
    together = actor.actions_over_steps(episode)
    torch.testing.assert_close(stepped, together, rtol=1e-10, atol=1e-10)
    actor.reset()
    first = actor(episode[0])
    assert not torch.allclose(actor(episode[0]), first)  # the state carried changes the second answer


def test_mlp_actor_and_critic_shapes():
    actor, critic = MLPActor(4, 2, (16,)), TwinCritic(4, 2, (16,))
    action = actor(torch.randn(5, 4))
    q1, q2 = critic(torch.randn(5, 4), action)
    assert action.abs().max() <= 1 and q1.shape == q2.shape == (5, 1)
    with pytest.raises(ValueError, match="state must be"):
        SpikingActor(4, 2, state="sometimes")


def _filled_buffer(episode_lengths: list[int]) -> ReplayBuffer:
    buffer = ReplayBuffer(1, 1, 1000)
    step = 0
    for length in episode_lengths:
        for i in range(length):
            buffer.add(np.array([step]), np.array([0.0]), 1.0, np.array([step + 1]), i == length - 1)
            step += 1
        buffer.end_episode()
    return buffer


def test_replay_windows_stay_inside_one_episode():
    buffer = _filled_buffer([3, 10, 2, 20])  # episodes start at steps 0, 3, 13, 15
    starts = {0, 3, 13, 15}
    windows = buffer.sample(200, 4, np.random.default_rng(0))
    obs = windows.obs[..., 0]  # [W, B]: the step numbers
    assert torch.all(obs[1:] - obs[:-1] == 1)  # consecutive steps
    episode_of = {s: max(e for e in starts if e <= s) for s in range(35)}
    for column in obs.t().tolist():
        assert len({episode_of[int(s)] for s in column}) == 1  # never across an episode start
    assert torch.equal(windows.from_start, torch.tensor([int(c[0]) in starts for c in obs.t().tolist()]))
    assert not any(episode_of[int(c[0])] in (0, 13) for c in obs.t().tolist())  # episodes shorter than 4
    assert windows.not_done[-1][obs[-1] == 34].eq(0).all()  # the last step of a terminated episode
    single = buffer.sample(50, 1, np.random.default_rng(1))
    assert single.obs.shape == (1, 50, 1)


def test_a_td3_update_reduces_the_critic_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    agent = TD3(_actor("dsn"), TwinCritic(4, 2, (32, 32)), SETTINGS | {"critic_lr": 3e-3})
    buffer = ReplayBuffer(4, 2, 500)
    rng = np.random.default_rng(0)
    for i in range(300):
        buffer.add(rng.normal(size=4), rng.uniform(-1, 1, 2), float(rng.normal()), rng.normal(size=4), i % 50 == 49)
        if i % 50 == 49:
            buffer.end_episode()
    batch = buffer.sample(64, 1, rng)
    first = agent.update(batch)["critic_loss"]
    for _ in range(100):
        losses = agent.update(batch)
    assert losses["critic_loss"] < 0.5 * first
    assert "actor_loss" in agent.update(batch) or "actor_loss" in agent.update(batch)  # every 2nd update


def test_carrying_actor_keeps_its_acting_state_through_an_update():
    actor = _actor("dsn", state="carry")
    agent = TD3(actor, TwinCritic(4, 2, (16,)), SETTINGS | {"policy_delay": 1})
    buffer = ReplayBuffer(4, 2, 100)
    for i in range(40):
        buffer.add(np.ones(4) * i / 40, np.zeros(2), 0.0, np.ones(4), False)
    agent.act(torch.randn(4))
    agent.act(torch.randn(4))

    def state() -> list[torch.Tensor]:
        return [getattr(m, n) for m in actor.modules() for n in getattr(m, "_memory_names", [])]

    before = [t.clone() for t in state() if isinstance(t, torch.Tensor)]
    assert before  # the acting state exists
    agent.update(buffer.sample(8, 4, np.random.default_rng(0)))  # runs the actor over windows from fresh states
    after = [t for t in state() if isinstance(t, torch.Tensor)]
    assert len(after) == len(before) and all(torch.equal(a, b) for a, b in zip(after, before, strict=True))


def _rl_config(tmp_path: Path, *extra: str) -> dict:
    from paraspike.train import load_config

    return load_config(
        "configs/rl_hopper.yaml",
        [
            f"out={tmp_path / 'runs'}",
            "model.options={hidden: [32, 32], steps: 5, population: 10, output_population: 10}",
            "rl.total_steps=800",
            "rl.random_steps=400",
            "rl.eval_every=400",
            "rl.eval_episodes=2",
            "rl.batch_size=64",
            "rl.critic_hidden=[32, 32]",
            *extra,
        ],
    )


def test_hopper_runs_are_deterministic_with_a_seed_and_record_evaluations(tmp_path):
    pytest.importorskip("mujoco")
    from paraspike.train import train

    first = train(_rl_config(tmp_path, "name=a"))
    second = train(_rl_config(tmp_path, "name=b"))
    assert first["env"] == "Hopper-v4" and [h["step"] for h in first["evaluations"]] == [400, 800]
    assert first["evaluations"] == second["evaluations"]  # the same seed, the same run
    folders = [Path(m["run_folder"]) for m in (first, second)]
    weights = [torch.load(f / "checkpoints" / "last.pt", weights_only=False) for f in folders]
    for name, value in weights[0]["agent"]["actor"].items():
        assert torch.equal(value, weights[1]["agent"]["actor"][name]), name
    rows = list(csv.DictReader((Path(first["run_folder"]) / "eval.csv").open()))
    assert [int(r["step"]) for r in rows] == [400, 800]
    assert first["best_return"] == max(float(r["return_mean"]) for r in rows)
    saved = json.loads((Path(first["run_folder"]) / "metrics.json").read_text())
    assert saved["steps_per_second"] > 0 and saved["firing_rate_overall"] > 0
    third = train(_rl_config(tmp_path, "name=c", "seed=1"))
    assert third["evaluations"] != first["evaluations"]


def test_the_walker2d_config_drives_walker2d_with_bounded_actions():
    pytest.importorskip("mujoco")
    from paraspike.tasks.rl.loop import build_agent, make_env
    from paraspike.train import load_config

    config = load_config("configs/rl_walker2d.yaml")
    env = make_env(config["rl"]["env"])
    obs, _ = env.reset(seed=0)
    assert env.spec.id == "Walker2d-v4" and obs.shape == (17,) and env.action_space.shape == (6,)
    agent = build_agent(config, 17, 6)
    action = agent.act(torch.as_tensor(obs, dtype=torch.float32))
    assert action.shape == (6,) and action.abs().max() <= 1.0
    env.step(action.numpy())


def test_a_stopped_run_resumes_from_its_checkpoint(tmp_path):
    pytest.importorskip("mujoco")
    from paraspike.train import train

    whole = train(_rl_config(tmp_path, "name=whole"))
    part = train(_rl_config(tmp_path, "name=part", "rl.total_steps=400"))
    checkpoint = Path(part["run_folder"]) / "checkpoints" / "last.pt"
    resumed = train(_rl_config(tmp_path, "name=part", "rl.total_steps=800"), resume=str(checkpoint))
    assert resumed["run_folder"] == part["run_folder"] and resumed["resumed_from"] == str(checkpoint)
    assert [h["step"] for h in resumed["evaluations"]] == [400, 800]
    assert resumed["evaluations"][0] == whole["evaluations"][0]  # the part before the checkpoint is the same run


def test_a_spiking_dsn_actor_learns_pendulum(tmp_path):
    pytest.importorskip("gymnasium")
    from paraspike.train import load_config, train

    config = load_config(
        None,
        [
            "task=rl",
            "name=pendulum",
            f"out={tmp_path / 'runs'}",
            "model.name=spiking-actor",
            "model.neuron=dsn",
            "model.options={hidden: [64, 64], steps: 5}",
            "rl.env=Pendulum-v1",
            "rl.total_steps=6000",
            "rl.random_steps=1000",
            "rl.eval_every=1000",
            "rl.eval_episodes=3",
            "rl.critic_hidden=[64, 64]",
            "rl.actor_lr=1e-3",
            "rl.critic_lr=1e-3",
        ],
    )
    metrics = train(config)
    first = metrics["evaluations"][0]["mean"]  # after the random steps: about -1400
    assert metrics["best_return"] > -800 and metrics["best_return"] - first > 500, metrics["evaluations"]


def test_missing_gymnasium_is_a_clear_error(monkeypatch):
    import builtins

    from paraspike.tasks.rl import make_env

    real_import = builtins.__import__

    def without_gymnasium(name, *args, **kwargs):  # noqa: ANN001, ANN202
        if name == "gymnasium":
            raise ImportError("No module named 'gymnasium'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_gymnasium)
    with pytest.raises(ImportError, match=r"pip install 'paraspike\[rl\]'"):
        make_env("Hopper-v4")


def test_a_saved_buffer_loads_into_a_larger_or_smaller_one():
    small = _filled_buffer([30, 30])  # 60 transitions
    small_ring = ReplayBuffer(1, 1, 50)
    small_ring.load_state_dict(small.state_dict())  # keeps the newest 50
    windows = small_ring.sample(100, 3, np.random.default_rng(0))
    assert windows.obs.min() >= 10 and torch.all(windows.obs[1:] - windows.obs[:-1] == 1)
    larger = ReplayBuffer(1, 1, 200)
    larger.load_state_dict(small_ring.state_dict())
    assert larger.size == 50 and larger.total == 60
    larger.add(np.array([60]), np.array([0.0]), 0.0, np.array([61]), False)
    assert larger.sample(300, 1, np.random.default_rng(1)).obs.max() == 60


def test_rl_report_table_and_learning_curves(tmp_path, isolated_results):
    pytest.importorskip("matplotlib")
    from paraspike.train import experiments, load_config, report

    runs = {r.variant: r for r in experiments.EXPERIMENTS["rl-hopper"]}
    config = load_config(runs["dsn"].config, list(runs["dsn"].overrides))
    for variant, seed, returns in (
        ("dsn", 0, [100.0, 900.0, 700.0]),
        ("dsn", 1, [300.0, 500.0, 900.0]),
        ("ann", 0, [50.0, 60.0, 70.0]),
    ):
        evaluations = [{"step": 5000 * (i + 1), "mean": r, "std": 1.0} for i, r in enumerate(returns)]
        metrics = {"seed": seed, "task": "rl", "env": "Hopper-v4", "evaluations": evaluations}
        metrics |= {"best_return": max(returns), "final_return": returns[-1], "steps_per_second": 80.0}
        metrics |= {"learning_steps_per_second": 50.0 if variant == "dsn" else None}
        metrics |= {"firing_rate_overall": 0.2 if variant == "dsn" else None, "firing_rate_binary": {}}
        metrics |= {"parameters": 1000, "critic_parameters": 2000, "config": config}
        path = tmp_path / "results" / runs[variant].name / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics))
    target = tmp_path / "results.md"
    report.write_report(target)
    text = target.read_text()
    assert "| 0,1 | 900 +- 0 | 800 +- 141 | 50 (80) | 1,000 | 0.200 |" in text  # best: both 900; final: 700, 900
    assert "| 0 | 70 +- 0 | 70 +- 0 | - (80) | 1,000 | - |" in text
    assert "Hopper-v4" in text and "100,000 environment steps" in text
    assert (tmp_path / "results" / "rl-hopper.png").is_file()
