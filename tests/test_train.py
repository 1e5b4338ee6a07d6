"""`paraspike train`: configs, the Lightning run, resume and 2-process DDP, firing-rate accounting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

L = pytest.importorskip("lightning", reason="the training extra is not installed: pip install 'paraspike[train]'")

from paraspike.tasks.common import EpochShuffleSampler  # noqa: E402
from paraspike.train import load_config, run_folder, train  # noqa: E402
from paraspike.train.firing import FiringRateMonitor  # noqa: E402

SMALL = [
    "data.dataset=digits",
    "data.presentation=row",
    "data.train_size=320",
    "data.test_size=100",
    "data.batch_size=32",
    "model.options.channels=8",
    "model.options.hidden=16",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
]


def _config(tmp_path: Path, *extra: str):
    return load_config(None, [*SMALL, f"out={tmp_path / 'runs'}", *extra])


def test_config_overrides_parse_yaml_and_reject_unknown_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\ndata: {dataset: mnist, batch_size: 16}\nmodel: {options: {widths: [8, 16]}}\n")
    config = load_config(path, ["optim.lr=3e-4", "data.permute_seed=null", "model.neuron=lif"])
    assert config["data"]["batch_size"] == 16 and config["optim"]["lr"] == 3e-4
    assert config["model"]["options"]["widths"] == [8, 16] and config["model"]["neuron"] == "lif"
    assert config["trainer"]["max_epochs"] == 3  # a default kept
    with pytest.raises(KeyError, match="data.batchsize"):
        load_config(None, ["data.batchsize=3"])
    with pytest.raises(ValueError, match="key.sub=value"):
        load_config(None, ["trainer.max_epochs"])


def test_an_override_inside_a_free_mapping_sets_one_key_and_keeps_the_rest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {options: {dim: 64, heads: 4}, neuron_options: {decay: {kind: fc}}}\n")
    config = load_config(path, ["model.options.softmax=true", "model.neuron_options.decay.rank=3"])
    assert config["model"]["options"] == {"dim": 64, "heads": 4, "softmax": True}
    assert config["model"]["neuron_options"] == {"decay": {"kind": "fc", "rank": 3}}
    assert load_config(path, ["model.options={dim: 8}"])["model"]["options"] == {"dim": 8}  # whole mapping
    assert load_config(None, ["model.options.dim=8"])["model"]["options"] == {"dim": 8}


def test_epoch_sampler_is_seeded_per_epoch_and_shards_by_rank():
    a, b = EpochShuffleSampler(10, seed=3), EpochShuffleSampler(10, seed=3)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b)
    b.set_epoch(2)
    assert list(a) != list(b)
    shards = [EpochShuffleSampler(10, seed=3, rank=r, world=3) for r in range(3)]
    seen = [i for s in shards for i in s]
    assert all(len(s) == 4 for s in shards) and set(seen) == set(range(10))  # padded to 12, covers all


def test_a_run_trains_tests_and_records_everything(tmp_path):
    config = _config(tmp_path, "name=small", "trainer.max_epochs=2")
    metrics = train(config)
    folder = run_folder(config)
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["test_acc"] == pytest.approx(metrics["test_acc"]) and 0.0 <= saved["test_acc"] <= 1.0
    assert saved["epochs"] == 2 and len(saved["epoch_seconds"]) == 2
    assert saved["data"]["train"] == 288 and saved["data"]["val"] == 32 and saved["data"]["test"] == 100
    rates = saved["firing_rate_binary"]
    assert len(rates) == 7 and all(0.0 <= r <= 1.0 for r in rates.values())  # 6 conv stages + hidden layer
    assert (folder / "config.yaml").is_file() and (folder / "checkpoints" / "last.ckpt").is_file()
    assert list((folder / "logs").rglob("metrics.csv")) and list((folder / "tensorboard").rglob("events.*"))


def test_resuming_from_a_checkpoint_reaches_the_uninterrupted_weights(tmp_path):
    whole = _config(tmp_path, "name=whole", "trainer.max_epochs=3")
    train(whole)
    first = _config(tmp_path, "name=parts", "trainer.max_epochs=3", "stop_after_epochs=1")  # "interrupted"
    assert train(first)["epochs"] == 1
    checkpoint = run_folder(first) / "checkpoints" / "last.ckpt"
    train(_config(tmp_path, "name=parts", "trainer.max_epochs=3"), resume=str(checkpoint))
    a = torch.load(run_folder(whole) / "weights_rank0.pt")
    b = torch.load(run_folder(first) / "weights_rank0.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_the_grid_resumes_an_interrupted_run_and_reaches_the_uninterrupted_weights(
    tmp_path, monkeypatch, isolated_results
):
    import yaml

    from paraspike.train import experiments
    from paraspike.train.run import unfinished_checkpoint

    whole = _config(tmp_path, "name=whole", "trainer.max_epochs=3")
    train(whole)
    # a run killed after its first epoch: its folder holds config.yaml and last.ckpt, no metrics.json
    killed = _config(tmp_path, "name=grid", "trainer.max_epochs=3", "stop_after_epochs=1")
    train(killed)
    folder = run_folder(killed)
    (folder / "metrics.json").unlink()
    full = _config(tmp_path, "name=grid", "trainer.max_epochs=3")
    (folder / "config.yaml").write_text(yaml.safe_dump(full, sort_keys=False))
    config_file = tmp_path / "grid.yaml"
    config_file.write_text(yaml.safe_dump(full, sort_keys=False))
    group = [experiments.Run("grid", str(config_file), (), (0,))]
    monkeypatch.setattr(experiments, "EXPERIMENTS", {"grid": group})
    experiments.run_experiments(["grid"])
    metrics = json.loads((isolated_results / "grid" / "seed0.json").read_text())
    assert metrics["resumed_from"] == str(folder / "checkpoints" / "last.ckpt") and metrics["epochs"] == 3
    assert not (folder.parent / "seed0-2").exists()  # continued in place, not started over
    a, b = torch.load(run_folder(whole) / "weights_rank0.pt"), torch.load(folder / "weights_rank0.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)
    # another config (here: more epochs) is a different run: it starts fresh
    assert unfinished_checkpoint(_config(tmp_path, "name=grid", "trainer.max_epochs=4")) is None


def test_grid_processes_skip_a_run_another_live_process_holds_and_take_over_a_dead_ones(
    tmp_path, monkeypatch, isolated_results
):
    import yaml

    from paraspike.train import experiments

    config_file = tmp_path / "grid.yaml"
    config_file.write_text(yaml.safe_dump(_config(tmp_path, "trainer.max_epochs=1"), sort_keys=False))
    monkeypatch.setattr(experiments, "EXPERIMENTS", {"grid": [experiments.Run("grid", str(config_file), (), (0,))]})
    lock = tmp_path / "runs" / "grid" / "seed0.lock"
    assert experiments.claim_run(lock) and not experiments.claim_run(lock)  # held by this (live) process
    experiments.run_experiments(["grid"])
    assert not (isolated_results / "grid" / "seed0.json").exists()  # skipped: another process holds it
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(finished.stdout.strip())  # its holder has exited
    experiments.run_experiments(["grid"])
    assert (isolated_results / "grid" / "seed0.json").is_file() and not lock.exists()


def test_two_process_ddp_on_cpu_ends_with_identical_weights(tmp_path):
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "paraspike", "train", *SMALL, f"out={out}", "name=ddp"]
    command += ["trainer.max_epochs=2", "trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = out / "ddp" / "seed0"
    ranks = [torch.load(folder / f"weights_rank{r}.pt") for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["machine"]["world_size"] == 2


def test_firing_rates_count_expanded_binary_spikes():
    from paraspike import DSN

    model = torch.nn.Sequential(DSN(3, max_spike=4))
    monitor = FiringRateMonitor(model)
    x = torch.full((5, 2, 3), 10.0)  # drives every neuron to the maximum count, N = 4
    counts = model(x)
    assert counts.max() == 4
    rate = monitor.rates()["0"]
    assert rate == pytest.approx(float(counts.sum()) / (counts.numel() * 4))


def test_experiment_report_averages_seeds_and_links_configs(tmp_path, isolated_results):
    from paraspike.train import report

    for seed, acc in ((0, 0.8), (1, 0.9)):
        path = tmp_path / "results" / "sfmnist-lif" / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"source": "x", "input_shape": [28, 1, 28], "train": 10, "val": 1, "test": 5}
        metrics = {"test_acc": acc, "seed": seed, "epoch_seconds": [2.0, 4.0], "firing_rate_overall": 0.1}
        metrics["firing_rate_binary"] = {"body.2": 0.2 + seed / 10, "body.5": 0.05}
        metrics["energy"] = {"total_uj": 1.0 + seed} if seed == 0 else None  # seed 1 recorded before energy
        path.write_text(json.dumps({**metrics, "epochs": 2, "data": data, "parameters": 123, "config": {}}))
    target = tmp_path / "results.md"
    report.write_report(target)
    text = target.read_text()
    assert "| 0,1 | 85.00 +- 7.07 | 3.0 s | 0.100 | 1 uJ | 123 |" in text
    assert "- sfmnist-lif: 0.250, 0.050" in text
    assert "paraspike train --config configs/sfmnist.yaml model.neuron=lif seed=0" in text


def test_every_experiment_of_the_grid_has_a_valid_config():
    from paraspike.train.experiments import EXPERIMENTS, command_for

    for runs in EXPERIMENTS.values():
        for run in runs:
            config = load_config(run.config, list(run.overrides))  # unknown keys or bad types raise
            assert command_for(run, 0).startswith(f"paraspike train --config {run.config}")
            if config["task"] == "forecasting" and run.variant == "ann":
                assert config["model"]["options"]["softmax"] is True and config["model"]["options"]["dim"] == 64


def test_repeat_steps_presents_every_step_several_times():
    from paraspike.tasks.classification import prepare_inputs

    images = torch.rand(2, 3, 4)
    data = {"presentation": "row", "permute_seed": None, "repeat_steps": 3}
    seq = prepare_inputs(images, data)
    assert seq.shape == (2, 9, 1, 4) and torch.equal(seq[:, 3], seq[:, 5]) and torch.equal(seq[0, 4, 0], images[0, 1])


def test_masked_psn_is_fully_masked_by_the_end_of_training(tmp_path):
    from paraspike.neurons import MaskedPSN
    from paraspike.tasks.classification import SpikeClassifier, SpikeDataModule

    config = _config(tmp_path, "name=masked", "model.neuron=masked-psn", "trainer.max_epochs=3")
    data = SpikeDataModule(config)
    module = SpikeClassifier(config, data.input_shape, data.classes)
    seen: list[float] = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            seen.append(next(m for m in pl_module.modules() if isinstance(m, MaskedPSN)).lambda_.item())

    trainer = L.Trainer(
        max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[Record()]
    )
    trainer.fit(module, datamodule=data)
    assert seen == [0.0, 0.5, 1.0]  # ramp over ceil(3 / 2) = 2 epochs


def _epoch_learning_rates(folder: Path) -> dict[int, float]:
    """The learning rate LearningRateMonitor logged at the start of each epoch, in step order, over
    every log version of the run (a resumed run logs into a new version)."""
    import csv

    logged: dict[int, float] = {}
    for path in sorted((folder / "logs").rglob("metrics.csv")):
        for row in csv.DictReader(path.open()):
            lr = next((v for k, v in row.items() if k.startswith("lr-") and v), None)
            if lr is not None:
                logged[int(row["step"])] = float(lr)
    return dict(enumerate(logged[step] for step in sorted(logged)))


def test_extending_a_finished_run_follows_the_longer_schedule_from_its_first_extra_epoch(tmp_path):
    import math

    first = _config(tmp_path, "name=extend", "trainer.max_epochs=2", "optim.lr=0.01")
    train(first)
    folder = run_folder(first)
    longer = _config(tmp_path, "name=extend", "trainer.max_epochs=4", "optim.lr=0.01")
    metrics = train(longer, resume=str(folder / "checkpoints" / "last.ckpt"))
    assert metrics["run_folder"] == str(folder.resolve())  # the same run, continued in its folder
    assert metrics["lr_schedule"]["extended_from_max_epochs"] == 2 and metrics["lr_schedule"]["resumed_at_epoch"] == 2
    rates = _epoch_learning_rates(folder)
    cosine = {e: 0.01 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in (2, 3)}
    assert rates[2] == pytest.approx(cosine[2]) and rates[3] == pytest.approx(cosine[3])  # not 0 and a restart
    assert rates[0] == pytest.approx(0.01) and rates[1] == pytest.approx(0.005)  # the 2-epoch run's own schedule


def test_two_runs_with_the_same_name_and_seed_get_separate_folders(tmp_path):
    config = _config(tmp_path, "name=twice", "trainer.max_epochs=1")
    a, b = train(config), train(config)
    assert a["run_folder"] != b["run_folder"] and b["run_folder"].endswith("seed0-2")
    for metrics in (a, b):
        folder = Path(metrics["run_folder"])
        assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["last.ckpt"]
        assert json.loads((folder / "metrics.json").read_text())["run_folder"] == metrics["run_folder"]


def test_metrics_record_what_computed_every_neuron_layer(tmp_path):
    from paraspike.kernels.cpu import cpu_kernel_unavailable_reason

    metrics = train(_config(tmp_path, "name=backend", "trainer.max_epochs=1"))
    backends = metrics["backends"]
    assert len(backends) == 7
    expected = "fused cpu kernel" if cpu_kernel_unavailable_reason(torch.device("cpu")) is None else "chunked scan"
    assert set(backends.values()) == {expected}


def test_config_values_of_the_wrong_type_name_their_key(tmp_path):
    with pytest.raises(TypeError, match=r"'trainer.max_epochs' must be int .*'abc'"):
        load_config(None, ["trainer.max_epochs=abc"])
    with pytest.raises(TypeError, match=r"'optim.lr' must be float"):
        load_config(None, ["optim.lr=fast"])
    assert load_config(None, ["optim.lr=1"])["optim"]["lr"] == 1.0  # an int is a fine float
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {batch_size: many}\n")
    with pytest.raises(TypeError, match=r"bad.yaml: config key 'data.batch_size' must be int"):
        load_config(bad)


def test_a_relative_data_dir_in_a_config_file_is_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    config_file = tmp_path / "configs" / "c.yaml"
    config_file.write_text("data: {dir: ../data/nmnist}\n")
    monkeypatch.chdir("/")
    assert load_config(config_file)["data"]["dir"] == str((tmp_path / "data" / "nmnist").resolve())
    assert load_config(config_file, ["data.dir=rel"])["data"]["dir"] == "rel"  # overrides: as given


def test_the_claim_table_is_generated_between_markers(tmp_path):
    from paraspike.train.report import update_claims
    from paraspike.train.report_claims import CLAIMS

    page = tmp_path / "reproducing.md"
    page.write_text("# Title\n\n<!-- claims -->\nold\n<!-- /claims -->\n\n## Rest\n")
    update_claims(page)
    text = page.read_text()
    assert "old" not in text and text.startswith("# Title") and text.endswith("## Rest\n")
    assert text.count("| ") >= len(CLAIMS) and "25.6x (GPU)" in text
    page.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        update_claims(page)
