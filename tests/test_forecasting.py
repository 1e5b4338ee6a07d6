"""Forecasting (issue 13): metrics, windows and normalisation, the spiking Transformers, a training run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from paraspike.data.series import load_series, make_windows
from paraspike.models import CausalSpikformer, Spikformer
from paraspike.tasks.forecasting import forecast_metrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_metrics_against_hand_computed_values():
    target = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]])  # N = 3 samples, 2 outputs
    prediction = torch.tensor([[2.0, 2.0], [3.0, 4.0], [4.0, 4.0]])
    # squared errors: 1, 0, 0, 4, 1, 0 -> sum 6; per-column means 3 and 4 -> sum (y - col mean)^2 = 8 + 8 = 16
    # overall mean 3.5 -> sum (y - 3.5)^2 = 6.25 + 2.25 + 0.25 + 6.25 + 2.25 + 0.25 = 17.5
    got = forecast_metrics(prediction, target)
    assert got["rse"] == pytest.approx(math.sqrt(6) / math.sqrt(16))
    assert got["r2"] == pytest.approx(1 - 6 / 17.5)
    assert got["mse"] == pytest.approx(6 / 6)
    assert got["mae"] == pytest.approx((1 + 0 + 0 + 2 + 1 + 0) / 6)
    perfect = forecast_metrics(target, target)
    assert perfect["rse"] == 0.0 and perfect["r2"] == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        forecast_metrics(prediction[:2], target)


def test_windows_are_chronological_and_normalised_with_training_rows_only():
    values = torch.arange(100, dtype=torch.float32).unsqueeze(1).repeat(1, 2)
    values[:, 1] *= -1
    train, val, test, fitted = make_windows(values, window=10, horizon=5, split=(0.6, 0.2, 0.2), normalize="maxabs")
    total = 100 - 10 - 5 + 1  # 86 windows
    assert (len(train), len(test), len(val)) == (int(total * 0.6), int(total * 0.2), total - 51 - 17)
    scale = fitted["scale"]
    assert scale == [float(51 + 10 + 5 - 2), float(51 + 10 + 5 - 2)]  # max |x| of the rows training windows read
    x, y = train[3]
    assert torch.equal(x[:, 0] * scale[0], torch.arange(3, 13, dtype=torch.float32))
    assert torch.equal(y[:, 0] * scale[0], torch.arange(13, 18, dtype=torch.float32))
    first_val, _ = val[0]
    assert first_val[0, 0] * scale[0] == 51  # validation continues where training stops
    last_x, last_y = test[len(test) - 1]
    assert last_y[-1, 0] * scale[0] == 99  # the test part ends at the last row
    _, _, _, zfit = make_windows(values, 10, 5, normalize="zscore")
    rows = values[: 51 + 10 + 5 - 1]
    assert zfit["shift"][0] == pytest.approx(rows[:, 0].mean().item())
    strided, _, _, _ = make_windows(values, 10, 5, normalize="maxabs", train_stride=4)
    assert len(strided) == math.ceil(51 / 4) and torch.equal(strided[1][0], train[4][0])
    _, val_strided, test_all, _ = make_windows(values, 10, 5, normalize="maxabs", val_stride=3)
    assert len(val_strided) == math.ceil(len(val) / 3) and torch.equal(val_strided[1][0], val[3][0])
    assert len(test_all) == len(test)  # the test part keeps every window
    with pytest.raises(ValueError, match="data.val_stride"):
        make_windows(values, 10, 5, val_stride=0)
    with pytest.raises(ValueError, match="three fractions"):
        make_windows(values, 10, 5, split=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="data.normalize"):
        make_windows(values, 10, 5, normalize="minmax")


@pytest.mark.parametrize(
    "name, rows, variables", [("etth1", 17420, 7), ("etth2", 17420, 7), ("exchange-rate", 7588, 8)]
)
def test_the_real_series_load_offline(name, rows, variables):
    folder = SHARED / ("exchange_rate" if name == "exchange-rate" else "ett")
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (the project's data folder)")
    values, names, source = load_series(name, folder)
    assert values.shape == (rows, variables) and len(names) == variables and torch.isfinite(values).all()
    if name == "etth1":
        assert names[-1] == "OT" and values[0, -1].item() == pytest.approx(30.531, abs=1e-3)


def test_missing_series_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PARASPIKE_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="pass data.dir"):
        load_series("etth1")
    with pytest.raises(FileNotFoundError, match="ETTh1.csv not found"):
        load_series("etth1", tmp_path)
    with pytest.raises(ValueError, match="unknown series"):
        load_series("etth3", tmp_path)


@pytest.mark.parametrize("neuron", ["dsn", "dsn-binary", "lif", "sliding-psn", "gelu"])
def test_spikformer_shapes_and_gradients(neuron):
    model = Spikformer(3, 16, 4, neuron, dim=16, heads=4, depth=1, d_ff=32)
    x = torch.randn(5, 16, 3, requires_grad=True)
    out = model(x)
    assert out.shape == (5, 4, 3)
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in model.head.parameters())


@pytest.mark.parametrize("neuron", ["dsn", "dsn-binary", "lif", "sliding-psn", "gelu"])
def test_causal_spikformer_online_predictions_equal_the_parallel_ones(neuron):
    torch.manual_seed(1)
    model = CausalSpikformer(3, 24, 5, neuron, dim=16, heads=4, depth=2, d_ff=32).double()
    x = torch.randn(8, 24, 3, dtype=torch.float64) * 2
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.momentum = 1.0  # one training pass loads the batch statistics into the running ones
    model.train()
    model(x)
    model.eval()
    spikes = []
    hook = model.blocks[0].mlp[0][2].register_forward_hook(lambda m, i, o: spikes.append(o))
    parallel = model(x)
    hook.remove()
    online = model.predict_online(x)
    torch.testing.assert_close(online, parallel, rtol=1e-9, atol=1e-9)
    if neuron != "gelu":
        assert 0 < spikes[0].mean() < max(1, spikes[0].max())  # the neurons fire, not all or nothing


def test_causal_attention_streams_in_chunks_like_one_call():
    from paraspike import reset_net
    from paraspike.models.attention import CausalSpikeSelfAttention

    torch.manual_seed(2)
    layer = CausalSpikeSelfAttention(8, 2, "dsn", 20).double().eval()
    x = torch.randn(20, 3, 8, dtype=torch.float64) * 3
    whole = layer(x)
    reset_net(layer)  # the layer's key-value state and its neurons' states
    pieces = torch.cat([layer(part) for part in x.split([7, 1, 12])])
    torch.testing.assert_close(pieces, whole, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("neuron", ["dsn", "lif"])
def test_spike_attention_in_the_cheaper_order_gives_the_same_numbers(neuron):
    """More tokens than head features: q (k^T v) instead of (q k^T) v, exactly equal on spikes."""
    from paraspike import reset_net
    from paraspike.models.attention import SpikeSelfAttention

    torch.manual_seed(3)
    layer = SpikeSelfAttention(16, 2, neuron, 4).eval()  # 8 features per head, 20 tokens
    x = torch.randn(4, 3, 20, 16) * 3
    out = layer(x)
    reset_net(layer)
    q, k, v = (layer.p.split(proj(x)) for proj in (layer.p.q, layer.p.k, layer.p.v))
    assert q.max() > 0 and k.max() > 0 and v.max() > 0  # spikes, not silence
    reference = ((q @ k.transpose(-2, -1)) * layer.scale) @ v
    assert torch.equal(out, layer.p.out(layer.p.attn_neuron(layer.p.merge(reference))))


def _synthetic_ett(folder: Path, rows: int = 1500) -> None:
    """An ETT-format CSV: two sine waves and their sum, with a little noise."""
    torch.manual_seed(0)
    t = torch.arange(rows, dtype=torch.float32)
    columns = [torch.sin(2 * math.pi * t / 24), torch.cos(2 * math.pi * t / 50)]
    columns.append(columns[0] + columns[1] + 0.05 * torch.randn(rows))
    lines = ["date,a,b,OT"] + [f"2020-01-01 00:00:00,{a:.5f},{b:.5f},{c:.5f}" for a, b, c in zip(*columns, strict=True)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ETTh1.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("model", ["spikformer", "spikformer-causal"])
def test_a_forecasting_run_learns_a_periodic_series_and_records_the_metrics(tmp_path, model):
    pytest.importorskip("lightning")
    from paraspike.train import load_config, train

    _synthetic_ett(tmp_path / "ett")
    config = load_config(
        None,
        [
            "task=forecasting",
            f"name={model}",
            f"out={tmp_path / 'runs'}",
            "data.dataset=etth1",
            f"data.dir={tmp_path / 'ett'}",
            "data.window=48",
            "data.horizon=8",
            "data.train_stride=2",
            "data.batch_size=32",
            f"model.name={model}",
            "model.neuron=dsn",
            "model.options={dim: 32, heads: 4, depth: 1}",
            "optim.name=adam",
            "optim.lr=3e-3",
            "optim.schedule=constant",
            "trainer.max_epochs=6",
            "trainer.gradient_clip_val=1.0",
            "trainer.enable_progress_bar=false",
            "early_stopping.patience=3",
        ],
    )
    metrics = train(config)
    saved = json.loads((Path(metrics["run_folder"]) / "metrics.json").read_text())
    assert saved["task"] == "forecasting"
    assert {"test_rse", "test_r2", "test_mse", "test_mae"} <= saved.keys()
    assert saved["test_rse"] < 0.8 and saved["test_r2"] > 0.3  # better than predicting each output's mean
    assert saved["data"]["normalization"]["scale"][0] == pytest.approx(1 / math.sqrt(2), rel=0.05)  # z-score of a sine
    assert len(saved["example"]["prediction"]) == 8 and len(saved["example"]["input"]) == 48
    assert saved["firing_rate_overall"] > 0 and saved["backends"]
    # early stopping: the test used the best validation epoch's weights, which weights_rank0.pt holds
    assert saved["tested"]["weights"] == "best epoch" and 0 <= saved["tested"]["epoch"] < saved["epochs"]
    best = torch.load(Path(metrics["run_folder"]) / "checkpoints" / "best.ckpt", weights_only=False)
    assert best["epoch"] == saved["tested"]["epoch"]
    tested = torch.load(Path(metrics["run_folder"]) / "weights_rank0.pt")
    assert all(torch.equal(value, best["state_dict"][f"model.{name}"]) for name, value in tested.items())


def test_linear_forecaster_follows_a_level_shift_and_refuses_neurons():
    from paraspike.models import LinearForecaster

    model = LinearForecaster(3, 12, 4)
    x = torch.randn(5, 12, 3)
    shift = torch.tensor([1.0, -2.0, 5.0])
    assert model(x).shape == (5, 4, 3)
    torch.testing.assert_close(model(x + shift), model(x) + shift)  # NLinear: the last value is taken out
    with pytest.raises(ValueError, match="model.neuron=identity"):
        LinearForecaster(3, 12, 4, neuron="dsn")
    with pytest.raises(ValueError, match=r"\[B, 12, 3\]"):
        model(torch.randn(5, 10, 3))


@pytest.mark.parametrize("neuron", ["dsn", "gelu"])
def test_revin_spikformer_is_equivariant_to_each_variables_scale_and_level(neuron):
    torch.manual_seed(0)
    model = Spikformer(3, 16, 4, neuron, dim=16, heads=4, depth=1, d_ff=32, revin=True).double().eval()
    x = torch.randn(5, 16, 3, dtype=torch.float64)
    scale, level = torch.tensor([2.0, 0.5, 10.0], dtype=torch.float64), torch.tensor([3.0, -1.0, 100.0])
    expected = model(x) * scale + level.double()
    torch.testing.assert_close(model(x * scale + level.double()), expected, rtol=1e-6, atol=1e-6)


def test_persistence_reference_repeats_the_last_value(tmp_path):
    from paraspike.tasks.forecasting import persistence_metrics
    from paraspike.train import load_config

    _synthetic_ett(tmp_path / "ett")
    data = ["data.dataset=etth1", f"data.dir={tmp_path / 'ett'}", "data.window=24", "data.horizon=6"]
    config = load_config(None, ["task=forecasting", *data])
    metrics = persistence_metrics(config)
    example = metrics["example"]
    assert all(step == example["input"][-1] for step in example["prediction"])
    x, y = torch.tensor(example["input"]), torch.tensor(example["target"])
    assert metrics["test_mse"] > 0 and metrics["parameters"] == 0 and metrics["data"]["test"] > 0
    assert torch.tensor(example["prediction"]).shape == y.shape and x.shape == (24, 3)


def test_forecasting_report_tables_and_summary(tmp_path, isolated_results):
    pytest.importorskip("matplotlib")
    from paraspike.train import experiments, load_config, report

    group = experiments.EXPERIMENTS["forecast-etth1-h24"]
    longer, revin = (
        experiments.EXPERIMENTS["forecast-etth1-h96"][0],
        experiments.EXPERIMENTS["forecast-etth1-h96-revin"][0],
    )
    config = load_config(group[0].config, list(group[0].overrides))
    example = {"input": [[0.0] * 7] * 96, "target": [[1.0] * 7] * 24, "prediction": [[0.5] * 7] * 24}
    data = {"source": "ett", "input_shape": [96, 7], "variables": list("abcdefg"), "train": 9, "val": 3, "test": 3}
    for run, seed, rse in (
        (group[0], 0, 0.5),
        (group[0], 1, 0.7),
        (group[-1], 0, 1.2),
        (longer, 0, 0.9),
        (revin, 0, 0.8),
    ):
        path = tmp_path / "results" / run.name / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        metrics = {f"test_{k}": rse for k in ("rse", "r2", "mse", "mae")} | {"seed": seed, "task": "forecasting"}
        metrics |= {"epochs": 4, "epoch_seconds": [2.0], "firing_rate_overall": None, "firing_rate_binary": {}}
        path.write_text(json.dumps({**metrics, "data": data, "parameters": 7, "config": config, "example": example}))
    target = tmp_path / "results.md"
    report.write_report(target)
    text = target.read_text()
    assert "| model | etth1-h24 | etth1-h96 |\n" in text  # the RevIN group is rows of the h96 column
    assert "| dsn | 0.600 +- 0.141 | 0.900 +- 0.000 |" in text and "| persistence | 1.200 +- 0.000 |  |" in text
    assert "| dsn + RevIN |  | 0.800 +- 0.000 |" in text
    assert "0.600 +- 0.141 | 0.600 +- 0.141 | 0.600 +- 0.141 | 0.600 +- 0.141 | 4.0 | 2.0 s | - | - | 7 |" in text
    assert "at most 15 epochs, early stopping on validation loss (patience 3)" in text
    assert (tmp_path / "results" / "forecast_etth1.png").is_file()
