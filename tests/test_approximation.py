"""The approximation study (issue 16): targets, measures, fitting, the study runner and its report."""

from __future__ import annotations

import json
import math

import pytest
import torch

from paraspike.neurons.lif import LIF
from paraspike.tasks.approximation.fit import build_fit_model, fit_neuron, pool_steps, spike_train_metrics
from paraspike.tasks.approximation.study import load_study_config, planned_fits, run_study
from paraspike.tasks.approximation.targets import LifTarget, calibrate_scale, make_inputs, run_target


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_targets_are_the_baseline_lif_and_record_the_charged_membrane(reset):
    x = make_inputs("structured", 200, 4, seed=3)
    spikes, membrane = run_target(LifTarget(reset, 8.0), 2.0 * x)
    expected = LIF(tau=8.0, reset=reset, step_mode="m")(2.0 * x)
    assert torch.equal(spikes, expected)
    assert spikes.sum() > 0
    assert torch.equal(spikes.bool(), membrane >= 1.0)  # fired exactly where the charged h reached V_th


def test_inputs_are_reproducible_and_calibration_hits_the_rate():
    a, b = make_inputs("gaussian", 64, 8, seed=1), make_inputs("gaussian", 64, 8, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, make_inputs("gaussian", 64, 8, seed=2))
    assert make_inputs("structured", 64, 8, seed=1).shape == (64, 8, 1)
    with pytest.raises(ValueError, match="unknown input kind 'sine'"):
        make_inputs("sine", 4, 1, seed=0)
    x = make_inputs("gaussian", 256, 16, seed=0)
    for tau in (2.0, 32.0):
        scale = calibrate_scale(LifTarget("hard", tau), x, 0.15)
        assert run_target(LifTarget("hard", tau), scale * x)[0].mean().item() == pytest.approx(0.15, abs=0.01)


def test_spike_train_measures_match_hand_computed_values():
    pred = torch.tensor([0.0, 2.0, 0.0, 1.0]).view(4, 1, 1)
    target = torch.tensor([1.0, 1.0, 0.0, 1.0]).view(4, 1, 1)
    m = spike_train_metrics(pred, target, vr_tau=2.0)
    assert m["accuracy"] == 0.5 and m["silent_accuracy"] == 0.25
    assert m["f1"] == pytest.approx(2 * 2 / (3 + 3))  # overlap min: 0 + 1 + 0 + 1
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    d = math.exp(-0.5)  # the filter of pred - target = [-1, 1, 0, 0]: [-1, 1 - d, (1 - d) d, (1 - d) d^2]
    filtered = [-1.0, 1 - d, (1 - d) * d, (1 - d) * d * d]
    assert m["van_rossum"] == pytest.approx(math.sqrt(sum(f * f for f in filtered) / 2.0))
    assert spike_train_metrics(target, target, 2.0)["van_rossum"] == 0.0
    assert spike_train_metrics(torch.zeros_like(target), target, 2.0)["van_rossum_relative"] == pytest.approx(1.0)


def test_pooling_windows_and_integer_models():
    x = torch.arange(8.0).view(8, 1, 1)
    assert pool_steps(x, 4, "sum").flatten().tolist() == [6.0, 22.0]
    assert pool_steps(x, 2, "mean").flatten().tolist() == [0.5, 2.5, 4.5, 6.5]
    with pytest.raises(ValueError, match="do not split into windows of 3"):
        pool_steps(x, 3, "sum")
    with pytest.raises(ValueError, match="DSN only"):
        build_fit_model("lif-noreset", steps=8, kernel_size=4, max_spike=4, target_reset="hard")


def _problem(target: LifTarget, seed: int, steps: int = 128):
    x, xt = make_inputs("gaussian", steps, 16, seed), make_inputs("gaussian", steps, 16, seed + 1)
    return (x, run_target(target, x)[0]), (xt, run_target(target, xt)[0])


def test_the_targets_own_family_fits_exactly_and_fitting_improves_the_dsn():
    target = LifTarget("hard", 2.0)
    train, test = _problem(target, 0)
    torch.manual_seed(0)
    plif = build_fit_model("plif", steps=128, kernel_size=4, max_spike=1, target_reset="hard")
    plif.standardize_with(train[0])
    with torch.no_grad():  # undo the standardisation: the PLIF then is the target (it starts at tau 2)
        plif.gain.copy_(plif.std)
        plif.offset.copy_(plif.mean)
    assert fit_neuron(plif, train, test, steps=0, lr=1e-4, vr_tau=5.0).metrics["f1"] > 0.99
    # The fit reduces the (held-out) van Rossum distance it optimises. Over three problems: one fit of a
    # binary neuron is a chaotic trajectory (a last-bit change in the kernel moved seed 0's ratio from
    # 0.50 to 0.75 while seeds 3-10 kept their spread, 0.46-0.83, mean 0.61-0.62).
    target = LifTarget("hard", 8.0)
    ratios = []
    for seed in range(3):
        x, x_test = make_inputs("gaussian", 128, 16, 2 * seed), make_inputs("gaussian", 128, 16, 2 * seed + 1)
        scale = calibrate_scale(target, x, 0.15)
        train = (scale * x, run_target(target, scale * x)[0])
        test = (scale * x_test, run_target(target, scale * x_test)[0])
        measured = []
        for steps in (0, 150):
            torch.manual_seed(seed)
            dsn = build_fit_model("dsn", steps=128, kernel_size=4, max_spike=1, target_reset="hard")
            fit = fit_neuron(dsn, train, test, steps=steps, lr=0.05, vr_tau=5.0)
            measured.append(fit.metrics["van_rossum_relative"])
        ratios.append(measured[1] / measured[0])
    assert max(ratios) < 0.9 and sum(ratios) / len(ratios) < 0.8, ratios


def _tiny(tmp_path, *extra: str) -> dict:
    overrides = ["seeds=[0]", "taus=[2.0]", "resets=[soft]", "inputs=[gaussian]", "steps=32", "train_sequences=4"]
    overrides += ["test_sequences=4", "models=[dsn, psn]", "fit.steps=3", "ablation.kernel_sizes=[2, 4]"]
    overrides += ["ablation.models=[dsn]", "figure_window=16", f"out={tmp_path / 'approx'}", *extra]
    return load_study_config("configs/approximation.yaml", overrides)


def test_the_study_runs_resumes_and_refuses_a_changed_budget(tmp_path):
    config = _tiny(tmp_path)
    fits = planned_fits(config)
    assert [(f["model"], f["mode"], f["kernel_size"]) for f in fits] == [
        ("dsn", "binary", 4),
        ("psn", "binary", 4),
        ("dsn-int", "integer", 4),
        ("dsn", "binary", 2),
    ]
    document = run_study(config, progress=False)
    saved = json.loads((tmp_path / "approx" / "results.json").read_text())
    assert len(saved["records"]) == 4 and saved["config"]["fit"]["steps"] == 3
    integer = next(r for r in saved["records"] if r["mode"] == "integer")
    assert max(integer["trace"]["target_counts"]) <= 4 and len(integer["trace"]["spikes"]) == 16
    assert run_study(config, progress=False)["records"] == document["records"]  # nothing left to fit
    with pytest.raises(ValueError, match="--fresh"):
        run_study(_tiny(tmp_path, "fit.steps=4"), progress=False)
    assert len(run_study(_tiny(tmp_path, "fit.steps=4"), fresh=True, progress=False)["records"]) == 4
    with pytest.raises(KeyError, match="unknown config key 'fit.epochs'"):
        _tiny(tmp_path, "fit.epochs=3")


def test_approx_command_and_report_section(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from paraspike.cli import main
    from paraspike.train.report_approx import approximation_section

    config = _tiny(tmp_path)
    overrides = [f"{k}={json.dumps(v)}" for k, v in config.items() if k not in ("fit", "ablation")]
    overrides += ["fit.steps=3", "ablation.kernel_sizes=[2, 4]", "ablation.models=[dsn]"]
    main(["approx", "--config", "configs/approximation.yaml", *overrides])
    printed = capsys.readouterr().out
    assert "gaussian    soft-tau2" in printed and "traces_gaussian.png" in printed
    assert (tmp_path / "approx" / "traces_gaussian.png").is_file()
    document = json.loads((tmp_path / "approx" / "results.json").read_text())
    text = "\n".join(approximation_section(document, tmp_path))
    assert "| target | silent acc. (%) | dsn | psn |" in text
    assert "| gaussian | soft-tau2 |" in text  # the integer table
    assert "| k = 2 | k = 4 |" in text


def test_write_report_adds_the_approximation_section(tmp_path, monkeypatch, isolated_results):
    pytest.importorskip("matplotlib")
    from paraspike.train import report

    monkeypatch.setattr(report, "APPROXIMATION", tmp_path / "approx")
    run_study(_tiny(tmp_path), progress=False)
    report.write_report(tmp_path / "results.md")
    text = (tmp_path / "results.md").read_text()
    assert "## Approximation study" in text and "### gaussian input: F1 on spikes (binary)" in text
    assert (tmp_path / "approx" / "traces_gaussian.png").is_file()


def test_under_a_constant_input_a_binary_dsn_settles_while_a_lif_fires_periodically():
    """The structural limit the study finds: with a constant input x the DSN's fixed point is H = x
    (H_t = alpha H_{t-1} + (1 - alpha) x for any alpha < 1), so a binary DSN ends up firing every step or
    never; a LIF with a reset fires periodically, a rate between 0 and 1 that binary DSN spikes cannot
    hold (integer counts can)."""
    from paraspike import DSN

    x = torch.full((200, 1, 1), 1.3)
    target = run_target(LifTarget("hard", 8.0), x)[0]
    late = target[100:].flatten()
    assert 0 < late.mean() < 1  # periodic firing
    torch.manual_seed(0)
    for _ in range(5):  # any decay conv
        dsn = DSN(1, max_spike=1, store_h_seq=True)
        with torch.no_grad():
            dsn.decay_logit.weight.normal_()
            dsn.decay_logit.bias.normal_()
            spikes = dsn(0.8 * x)
        torch.testing.assert_close(dsn.h_seq[-1], 0.8 * x[-1], atol=1e-4, rtol=0)
        assert spikes[100:].unique().numel() == 1  # all-or-none
