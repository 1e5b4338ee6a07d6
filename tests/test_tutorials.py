"""Every tutorial of the documentation site runs (small data) and shows what its page says it shows."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "docs" / "tutorials"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tutorial_{name}", TUTORIALS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_dsn(tmp_path):
    pytest.importorskip("matplotlib")
    spikes = _load("first_dsn").main(tmp_path, quick=True)
    assert {p.name for p in tmp_path.iterdir()} == {
        "first_dsn.png",
        "first_dsn_hyperparameters.png",
        "first_dsn_raster.png",
    }
    assert spikes["max_spike=1"] < spikes["max_spike=2"] < spikes["max_spike=4"]  # counts add spikes
    assert spikes["kernel_size=16"] != spikes["kernel_size=1"]


def test_parallel_train_serial_run(tmp_path):
    results = _load("parallel_train_serial_run").main(tmp_path, quick=True)
    assert results["serial_vs_parallel"] < 1e-5 and results["chunks_vs_parallel"] < 1e-5
    assert results["restored_vs_parallel"] < 1e-5


def test_deployment(tmp_path):
    pytest.importorskip("onnxruntime")
    results = _load("deployment").main(tmp_path, quick=True)
    assert results["spike_driven_rewrite_error"] < 1e-5 and results["onnx_error"] < 1e-4
    assert results["real_valued_synapse_calls"] == 1  # the first conv reads the pixels
    assert (tmp_path / "model_step.onnx").is_file()


def test_interop(tmp_path):
    pytest.importorskip("spikingjelly.activation_based")
    results = _load("interop").main(tmp_path, quick=True)
    assert results["reset_repeats_exactly"] == 1.0


def test_new_backend(tmp_path):
    results = _load("new_backend").main(tmp_path, quick=True)
    assert max(results["values"], results["grad_u"], results["grad_decay"]) < 1e-10


def test_cli_training(tmp_path):
    pytest.importorskip("lightning")
    results = _load("cli_training").main(tmp_path, quick=True)
    assert results["epochs_logged"] == 2 and results["tensorboard_files"] >= 1


def test_the_documentation_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.skip("the docs extra is not installed: pip install 'paraspike[docs]'")
    root = TUTORIALS.parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "neurons" / "index.html").is_file()
