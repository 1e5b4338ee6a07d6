"""Command-line entry points, README and CI consistency."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from paraspike.cli import main
from paraspike.demo import DemoConfig, run_demo

ROOT = Path(__file__).resolve().parents[1]


def test_demo_trains_and_compares(tmp_path):
    out = tmp_path / "demo.json"
    result = run_demo(DemoConfig(epochs=10, hidden=32, out=str(out)))
    assert result["test_accuracy"] > 0.2  # twice chance (0.1) after ten short epochs
    assert 0.95 <= result["identical_spike_fraction"] <= 1.0
    assert json.loads(out.read_text())["config"]["epochs"] == 10


def test_demo_reads_mnist_idx_folder(tmp_path):
    mnist = ROOT.parent / "shared" / "data" / "mnist"
    if not (mnist / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test split not found in {mnist}")
    main(["demo", "--data", str(mnist), "--epochs", "1", "--hidden", "16", "--out", str(tmp_path / "m.json")])
    result = json.loads((tmp_path / "m.json").read_text())
    assert "MNIST" in result["data"] and result["test_accuracy"] > 0.3


def test_bench_scan_writes_json(tmp_path, capsys):
    out = tmp_path / "scan.json"
    main(["bench", "scan", "--lengths", "32", "100", "--neurons", "64", "--repeats", "2", "--out", str(out)])
    data = json.loads(out.read_text())
    assert {row["backend"] for row in data["rows"]} >= {"naive", "chunked"}
    assert all(row["seconds"] > 0 for row in data["rows"])
    assert "T=   100" in capsys.readouterr().out


def test_bench_speed_writes_json_table_and_targets(tmp_path, capsys):
    args = ["bench", "speed", "--lengths", "16", "48", "--neurons", "64", "--repeats", "1", "--min-time", "0"]
    main([*args, "--out", str(tmp_path), "--only", "DSN-int", "PSN", "LIF"])
    data = json.loads((tmp_path / "bench_speed_cpu.json").read_text())
    assert data["complete"] is True and "--min-time 0.0" in data["command"]
    assert data["copy_bandwidth_gbs"] > 0
    fused_rows = [row for row in data["rows"] if row["model"] == "DSN-int [cpu]"]
    assert all(row["forward_gbs"] > 0 for row in fused_rows) or not fused_rows
    models = {row["model"] for row in data["rows"]}
    assert data["reference"].startswith("DSN-int") and data["reference"] in models
    assert any(name.startswith("SJ PSN") for name in models)  # the peer ran in the same process
    for row in data["rows"]:
        assert row["status"] == "ok" and row["forward_s"] > 0 and row["backward_s"] > 0
        assert row["total_s"] == pytest.approx(row["forward_s"] + row["backward_s"], rel=0.5)
        assert row["time_vs_dsn"] > 0
    reference_rows = [row for row in data["rows"] if row["model"] == data["reference"]]
    assert all(row["time_vs_dsn"] == 1.0 for row in reference_rows)
    targets = {t["target"]: t["verdict"] for t in data["targets"]}
    assert targets["DSN not slower than SJ PSN at T=32"].startswith("not measured")  # T=32 was not run
    table = (tmp_path / "bench_speed_cpu.md").read_text()
    assert "| model | T=16 | T=48 |" in table and "SJ PSN" in table
    assert "neurons=64 T=48" in capsys.readouterr().out


def test_bench_speed_reports_over_cap_instead_of_running(tmp_path):
    from paraspike.bench.speed import run_speed_benchmark

    result = run_speed_benchmark((32, 4096), (64,), repeats=1, cap_s=1e-9, only=["DSN-int [naive]"])
    statuses = [row["status"] for row in result["rows"]]
    assert statuses == ["ok", "over cap"]


def test_bench_speed_saves_after_every_length_and_times_short_runs_longer():
    from paraspike.bench.speed import run_speed_benchmark

    seen: list[tuple[int, bool]] = []

    def on_step(result):
        seen.append((len(result["rows"]), result["complete"]))

    result = run_speed_benchmark((8, 16), (64,), repeats=2, only=["DSN-int [naive]"], min_time_s=0.05, on_step=on_step)
    assert seen == [(1, False), (2, True)]  # partial result after T=8, complete after T=16
    assert all(row["runs"] > 2 for row in result["rows"])  # 50 ms of sub-ms runs is more than 2 runs


def test_gpu_targets_use_the_gpu_criteria():
    from paraspike.bench.speed_report import target_checks

    def row(model, steps, total, **extra):
        return {"model": model, "neurons": 1024, "T": steps, "status": "ok", "total_s": total, **extra}

    result = {
        "machine": {"device": "cuda:0"},
        "reference": "DSN-int [triton]",
        "copy_bandwidth_gbs": 3000.0,
        "rows": [
            row("DSN-int [triton]", 32, 1e-4),
            row("SJ LIFNode (m)", 32, 2e-4),
            row("DSN-int [triton]", 16384, 1e-3, forward_gbs=2400.0),
            row("SJ PSN", 16384, 4e-2),
        ],
    }
    verdicts = {check["target"]: check["verdict"] for check in target_checks(result)}
    assert verdicts["DSN >= 50x faster than SJ PSN at T=16384"].startswith("MISSED (40.0x")
    assert verdicts["DSN faster than SJ LIFNode (m) at T=32"].startswith("met (2.00x")
    assert verdicts["DSN forward >= 70% of copy bandwidth at long T"].startswith("met (T=16384: 2400 GB/s")


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "paraspike", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("paraspike ")


def test_ci_runs_the_test_command_written_in_readme():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```bash\n(.+?)\n```", readme, re.S)
    assert match, "README.md must hold the test command after <!-- test-command -->"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci  # .ci/run extracts and runs that very block


def test_readme_usage_example_runs():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Usage\n\n```python\n(.+?)```", readme, re.S)
    assert block, "README.md must open its Usage section with a python example"
    namespace: dict[str, object] = {}
    exec(block.group(1), namespace)  # noqa: S102 - the README's own example
    assert namespace["out"].shape == (25, 8, 64)


def test_train_errors_name_the_key_without_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "trainer.max_epochs=abc"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "trainer.max_epochs" in err and "Traceback" not in err


def test_train_accepts_overrides_after_options(tmp_path, capsys):
    args = ["train", "--data-dir", str(tmp_path / "nowhere"), "data.dataset=fashion-mnist", "trainer.max_epochs=1"]
    with pytest.raises(SystemExit):
        main(args)
    err = capsys.readouterr().err
    assert "fashion-mnist folder" in err and "dataset-fashion-mnist" in err  # the override was applied


def test_every_cli_option_has_help_and_descriptions_are_plain_text():
    from paraspike.cli import build_parser

    def walk(parser):
        yield parser
        for action in parser._actions:
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                for sub in action.choices.values():
                    yield from walk(sub)

    for parser in walk(build_parser()):
        assert "``" not in (parser.description or ""), parser.prog
        for action in parser._actions:
            if action.option_strings and action.dest not in ("help", "version"):
                assert action.help, f"{parser.prog} {action.option_strings} has no help text"


def test_demo_script_writes_its_metrics_outside_tracked_results():
    script = (ROOT / "scripts" / "demo.sh").read_text()
    assert "--out runs/" in script and "results/demo_digits.json" not in script
    ignored = subprocess.run(["git", "check-ignore", "runs/demo/demo_digits.json"], cwd=ROOT, capture_output=True)
    assert ignored.returncode == 0 or not (ROOT / ".git").exists()


def test_kernel_build_key_depends_on_the_environment(monkeypatch):
    from paraspike.kernels import cpu

    key = cpu.build_key()
    monkeypatch.setattr(sys, "prefix", "/some/other/venv")
    assert cpu.build_key() != key  # another environment builds (and caches) its own binary
    monkeypatch.setattr(cpu.torch, "__version__", "0.0.0")
    assert cpu.build_key() != key


def test_bench_speed_layer_suite_reports_ratios_floor_multiples_and_targets(tmp_path):
    args = ["bench", "speed", "--suite", "layers", "--steps", "1", "2", "--layouts", "dense"]
    main([*args, "--repeats", "1", "--min-time", "0", "--only", "LIFNode", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "bench_layers_cpu.json").read_text())
    assert data["complete"] is True and data["floor_bytes_per_neuron_step"] == 28
    models = {row["model"] for row in data["rows"]}
    assert {"DSN-int", "DSN-bin", "copy"} <= models
    assert "SJ LIFNode (m)" in models or data["notes"]  # the peer ran in the same process when installed
    for row in data["rows"]:
        assert row["shape"] == [row["T"], 128, 4096] and row["status"] == "ok"
        assert row["floor_multiple"] > 0 and row["copy_bandwidth_gbs"] > 0
        assert row["floor_multiple"] == pytest.approx(row["total_s"] / row["floor_s"])
    dsn = [r for r in data["rows"] if r["model"] == "DSN-int"]
    assert all(r["time_vs_dsn"] == 1.0 for r in dsn)
    assert len(data["targets"]) == 4 and all("verdict" in t for t in data["targets"])
    assert all(row["page_faults"] >= 0 for row in data["rows"])
    for row in data["rows"]:  # the kernel's loops alone: arithmetic, a lower bound for the DSN layers
        assert 0 < row["kernel_loops_s"] < min(r["total_s"] for r in dsn)
    report = (tmp_path / "bench_layers_cpu.md").read_text()
    assert "## dense layer, shape [T, 128, 4096]" in report and "| copy |" in report
    assert "| *DSN-int kernel loops alone (arithmetic, memory free) [multiple of the floor]* |" in report
    assert "Page faults per forward + backward, dense" in report


def test_layer_floor_target_names_the_shapes_whose_arithmetic_alone_is_above_twice_the_floor():
    from paraspike.bench.layers_report import layer_targets

    def row(steps: int, total: float, loops: float) -> dict[str, object]:
        return {
            "model": "DSN-int",
            "layout": "conv",
            "T": steps,
            "status": "ok",
            "total_s": total,
            "floor_s": 1.0,
            "floor_multiple": total,
            "kernel_loops_s": loops,
        }

    result = {"models": {"DSN-int": {"family": "dsn"}}, "rows": [row(2, 7.0, 2.9), row(4, 2.6, 1.3), row(1, 9, 9)]}
    floor = next(t for t in layer_targets(result) if "DSN-int within 2x" in str(t["target"]))
    assert floor["value"] == 7.0 and str(floor["verdict"]).startswith("MISSED (worst 7.00x at conv T=2")
    assert "memory free: 2.90x the floor at conv T=2, shapes above 2x: conv T=2)" in str(floor["verdict"])
    result["rows"] = [row(2, 1.9, 1.2)]  # T = 1 is outside the target; no loops above 2x
    floor = next(t for t in layer_targets(result) if "DSN-int within 2x" in str(t["target"]))
    assert str(floor["verdict"]).startswith("met") and "shapes above 2x: none" in str(floor["verdict"])


class _FreshBufferLayer(torch.nn.Module):
    """Identity that also fills a fresh 48 MiB buffer per call (glibc maps blocks that large from the
    kernel on every allocation and unmaps them on free, so each call faults on every page)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.empty(12 * 2**20).fill_(1.0)
        return x * 1.0


def test_interleaved_timing_counts_the_page_faults_of_fresh_memory():
    from paraspike.bench.timing import time_layers_interleaved

    builds = {"fresh": _FreshBufferLayer, "identity": lambda: torch.nn.Identity()}
    # Identity returns x itself, whose backward is free; the point is the fault counts
    timed = time_layers_interleaved(builds, (2, 4, 8), torch.device("cpu"), repeats=3, cap_s=5.0, seed=0)
    # one fault per page: 12,288 with 4 KiB pages, 24 where transparent huge pages are always on
    assert timed["fresh"]["page_faults"] >= 0.9 * 48 * 2**20 / (2 * 2**20)
    assert timed["identity"]["page_faults"] <= timed["fresh"]["page_faults"] / 4


def test_speed_suite_predicts_forward_and_backward_apart_so_a_cubic_backward_is_not_started():
    from paraspike.bench.speed import predicted_run_seconds

    # forward linear and dominant at small T, backward cubic: their sum grows by less than T^2
    measured = [(512, 0.010, 0.002), (2048, 0.040, 0.128)]
    assert predicted_run_seconds(measured, 8192) == pytest.approx(0.160 + 0.128 * 64)
    assert predicted_run_seconds([], 8192) == 0.0


def test_bench_contention_times_quiet_and_busy_runs_in_fresh_processes(tmp_path):
    args = ["bench", "contention", "--shapes", "T2048", "--backends", "chunked", "--threads", "1"]
    main([*args, "--env", "", "--min-time", "0.05", "--label", "smoke", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "contention_smoke.json").read_text())
    (row,) = data["rows"]
    assert (
        row["quiet_ms"] > 0
        and row["busy_ms"] > 0
        and row["slowdown"] == pytest.approx(row["busy_ms"] / row["quiet_ms"])
    )
    assert "| T2048 | chunked | (defaults) | 1 |" in (tmp_path / "contention_smoke.md").read_text()


def test_spikingjelly_lif_runs_its_triton_kernels_on_cuda_unless_the_user_chose(monkeypatch):
    # SpikingJelly 2.0.0 reads SJ_LIF_CUDA_IMPLEMENTATION when imported (auto: its CUDA extension first)
    from paraspike.bench.common import SJ_LIF_VARIABLE, spikingjelly_lif_implementation
    from paraspike.bench.layers import layer_models

    cuda = torch.device("cuda")  # a device object only: nothing runs on it
    assert spikingjelly_lif_implementation(torch.device("cpu")) == "torch"
    have_spikingjelly = importlib.util.find_spec("spikingjelly") is not None
    if have_spikingjelly:  # imported before the variable changes, as the rest of the session sees it
        importlib.import_module("spikingjelly.activation_based.neuron")
    monkeypatch.setenv(SJ_LIF_VARIABLE, "cuda")  # the user's choice stands
    assert spikingjelly_lif_implementation(cuda) == f"{SJ_LIF_VARIABLE}=cuda"
    if have_spikingjelly:
        models, notes = layer_models(cuda)  # recipes: builds nothing
        lif = next(model for model in models if model.name == "SJ LIFNode (m)")
        assert lif.note == f"{SJ_LIF_VARIABLE}=cuda"
        assert any(f"{SJ_LIF_VARIABLE}=cuda" in note and "CuPy" in note for note in notes)
    monkeypatch.delenv(SJ_LIF_VARIABLE)
    monkeypatch.delitem(sys.modules, "spikingjelly", raising=False)  # as if not imported yet
    assert spikingjelly_lif_implementation(cuda) == f"{SJ_LIF_VARIABLE}=triton"
    assert os.environ[SJ_LIF_VARIABLE] == "triton"


def test_gpu_check_script_reports_the_environment_and_refuses_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the script would run the whole GPU check")
    out = tmp_path / "gpu"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(out), str(tmp_path / "no-wheels")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 2
    assert "needs a GPU" in result.stdout and "no wheels in" in result.stdout
    environment = (out / "environment.txt").read_text()
    assert "torch" in environment and "NO CUDA DEVICE" in environment
    assert (out / "gpu_check.log").is_file()


def _fake_python(folder, fail_on: str = "") -> str:
    """A stand-in interpreter for scripts/gpu_check.sh: prints its arguments, claims CUDA (exit 0), and
    fails (exit 3) when its arguments contain ``fail_on``."""
    script = folder / "fake-python"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'echo "FAKE $*"\n'
        f'if [[ -n "{fail_on}" && "$*" == *"{fail_on}"* ]]; then exit 3; fi\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    return str(script)


def _gpu_check(tmp_path, python: str, **env: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "gpu"
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(out), str(tmp_path / "no-wheels")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHON": python, **env},
    )


def test_gpu_check_runs_only_the_parts_asked_for_with_quick_timing(tmp_path):
    result = _gpu_check(tmp_path, _fake_python(tmp_path), GPU_CHECK_PARTS="gpu-tests networks", GPU_CHECK_QUICK="1")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line for line in result.stdout.splitlines() if line.startswith("FAKE -m")]
    assert ran == [
        "FAKE -m pytest -q tests/test_gpu.py tests/test_triton_kernels.py -p no:cacheprovider -rs",
        "FAKE -m paraspike.bench.networks --device cuda --rounds 5 --min-time 2 --out " + str(tmp_path / "gpu"),
    ]
    everything = _gpu_check(tmp_path, _fake_python(tmp_path))
    commands = [line for line in everything.stdout.splitlines() if line.startswith("FAKE -m")]
    assert [c.split(" --out")[0] for c in commands] == [
        "FAKE -m pytest -q tests -p no:cacheprovider -rs",
        "FAKE -m paraspike bench speed --device cuda",
        "FAKE -m paraspike bench speed --device cuda --suite layers",
        "FAKE -m paraspike bench speed --device cuda --suite layers",
        "FAKE -m paraspike.bench.networks --device cuda",
    ]


def test_gpu_check_exits_with_the_first_failing_part_and_rejects_unknown_parts(tmp_path):
    failing = _gpu_check(tmp_path, _fake_python(tmp_path, fail_on="--suite layers"), GPU_CHECK_PARTS="speed layers")
    assert failing.returncode == 3
    assert "layers exit status 3" in failing.stdout and "speed exit status 0" in failing.stdout
    unknown = _gpu_check(tmp_path, _fake_python(tmp_path), GPU_CHECK_PARTS="tests benchmarks")
    assert unknown.returncode == 64
    assert "unknown part 'benchmarks'" in unknown.stderr and "gpu-tests tests speed" in unknown.stderr


def test_bench_lm_writes_tokens_per_second_ratios_and_the_command(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["bench", "lm", "--neurons", "dsn", "identity", "--dim", "16", "--depth", "1", "--context", "32"]
    main([*args, "--batch", "2", "--repeats", "1", "--cap", "1", "--out", str(out)])
    data = json.loads((out / "bench_lm_cpu.json").read_text())
    rows = {r["neuron"]: r for r in data["rows"]}
    assert rows["dsn"]["time_vs_dsn"] == 1.0 and rows["identity"]["tokens_per_second"] > 0
    assert rows["dsn"]["parameters"]["neurons"] > 0 == rows["identity"]["parameters"]["neurons"]
    table = (out / "bench_lm_cpu.md").read_text()
    assert "paraspike bench lm --neurons dsn identity --dim 16" in table and "| identity |" in table


def test_module_overhead_benchmark_writes_its_table(tmp_path, capsys):
    from paraspike.bench import overhead
    from paraspike.kernels.cpu import cpu_kernel_unavailable_reason

    if cpu_kernel_unavailable_reason(torch.device("cpu")) is not None:
        pytest.skip("CPU kernel unavailable")
    threads = torch.get_num_threads()  # the program times one thread
    try:
        assert overhead.main(["--shapes", "4,2,8", "--rounds", "2", "--calls", "5", "--out", str(tmp_path)]) == 0
        with pytest.raises(SystemExit):
            overhead.main(["--shapes", "4,2"])
    finally:
        torch.set_num_threads(threads)
    data = json.loads((tmp_path / "module_overhead_cpu.json").read_text())
    (row,) = data["rows"]
    assert row["shape"] == [4, 2, 8] and row["module_us"] > 0 and row["op_us"] > 0
    assert row["overhead_us"] == pytest.approx(row["module_us"] - row["op_us"])
    assert "[4, 2, 8]" in capsys.readouterr().out


def test_network_benchmark_times_a_training_step_per_neuron():
    from paraspike.bench.networks import NetworkShape, network_table, time_training_steps

    shape = NetworkShape(batch=2, steps=3, channels=2, size=8, widths=(4,))
    neurons = {"DSN-int": "dsn", "LIF [ours]": "lif"}
    timed = time_training_steps(shape, neurons, rounds=2, min_time_s=0.0)
    assert set(timed) == set(neurons)
    for row in timed.values():
        assert 0 < row["forward_s"] < row["step_s"] and row["runs"] >= 2 and row["parameters"] > 0
    assert timed["DSN-int"]["parameters"] > timed["LIF [ours]"]["parameters"]  # the DSN's decay conv
    result = {"networks": {"tiny": timed}, "shapes": {"tiny": shape.__dict__}}
    table = "\n".join(network_table(result))
    assert "## tiny: input [B=2, T=3, 2, 8, 8], widths (4,)" in table and "| DSN-int |" in table
    assert "| 1.00x |" in table


def test_options_benchmark_times_every_option_set_against_the_default(tmp_path, capsys):
    from paraspike.bench import options

    assert options.main(["--shape", "3,2,4", "--rounds", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench_options_cpu.json").read_text())
    assert list(data["rows"]) == list(options.OPTION_SETS) and data["shape"] == [3, 2, 4]
    assert data["rows"]["default (k=4, tau=1/4, N=4)"]["relative"] == 1.0
    assert all(row["total_s"] > 0 for row in data["rows"].values())
    assert "tau=0.3" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        options.main(["--shape", "3,2"])


def test_recompute_benchmark_compares_both_modes_and_counts_what_autograd_saves(tmp_path, capsys, monkeypatch):
    from paraspike.bench import recompute
    from paraspike.kernels.cpu import cpu_kernel_unavailable_reason

    if cpu_kernel_unavailable_reason(torch.device("cpu")) is not None:
        pytest.skip("the CPU kernels are not built here")
    monkeypatch.setenv("PARASPIKE_RECOMPUTE_H", "7")  # the modes set it; it is put back after
    arguments = ["--shapes", "4,2,64", "40,2,64", "--rounds", "2", "--networks", "image-t2", "--out", str(tmp_path)]
    assert recompute.main(arguments) == 0
    record = json.loads((tmp_path / "bench_recompute_cpu.json").read_text())
    rows = record["rows"]
    network = record["networks_saved_mib"]["image-t2"]
    assert 0 < network["recomputed H"] < network["saved H"]  # the DSN layers' H (T = 2) is no longer saved
    assert [row["shape"] for row in rows] == [[4, 2, 64], [40, 2, 64]]
    row_mib = 2 * 64 * 4 / 2**20  # one step of [B, C] = [2, 64] in float32
    for row in rows:
        steps = row["shape"][0]
        # recomputing, autograd keeps one H row per 32 steps (after each tile but the last) instead of all
        dropped = row["saved H"]["saved_mib"] - row["recomputed H"]["saved_mib"]
        assert dropped == pytest.approx((steps - (steps - 1) // 32) * row_mib)
    assert all(row[mode]["total_s"] > 0 for row in rows for mode in recompute.MODES)
    assert "recomputed H" in capsys.readouterr().out
    assert os.environ["PARASPIKE_RECOMPUTE_H"] == "7"


def test_strip_cycles_benchmark_times_the_kernel_loops_alone(tmp_path, capsys):
    from paraspike.bench.strip_cycles import main as strip_cycles_main
    from paraspike.kernels.cpu import cpu_kernel_unavailable_reason

    if cpu_kernel_unavailable_reason(torch.device("cpu")) is not None:
        pytest.skip("the CPU kernels are not built here")
    arguments = ["--steps", "1", "3", "--batch", "2", "--channels", "2", "--rounds", "1", "--out", str(tmp_path)]
    assert strip_cycles_main(arguments) == 0
    record = json.loads((tmp_path / "bench_strip_cycles_cpu.json").read_text())
    assert record["command"].startswith("python -m paraspike.bench.strip_cycles") and record["neurons"] == 1024
    assert [row["steps"] for row in record["rows"]] == [1, 3]
    for row in record["rows"]:
        for case in ("staggered", "aliased"):
            timing = row[case]
            assert timing["forward_ns_per_neuron_step"] > 0 and timing["backward_ns_per_neuron_step"] > 0
            if timing["clock_ghz"] > 0:  # x86-64: cycles = ns x GHz per 16-lane vector-step
                expected = timing["forward_ns_per_neuron_step"] * 16 * timing["clock_ghz"]
                assert timing["forward_cycles_per_vector_step"] == pytest.approx(expected)
    assert "cycles" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="offsets are multiples of 64 bytes"):
        torch.ops.paraspike.strip_timing(1, 1, 1, 1, 32, 0)
    with pytest.raises(SystemExit):
        strip_cycles_main(["--steps", "0"])


def test_single_step_benchmark_times_every_neuron_per_step(tmp_path, capsys):
    from paraspike.bench import single_step

    threads = torch.get_num_threads()
    assert single_step.main(["--shapes", "2,4", "--steps", "3", "--rounds", "2", "--out", str(tmp_path)]) == 0
    assert torch.get_num_threads() == threads  # restored after timing on one thread
    data = json.loads((tmp_path / "bench_single_step_cpu.json").read_text())
    (row,) = data["rows"]
    assert row["shape"] == [2, 4] and {"DSN-int", "DSN-bin", "LIF [ours]"} <= set(row["us_per_step"])
    assert all(us > 0 for us in row["us_per_step"].values())
    assert "DSN-int" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        single_step.main(["--shapes", "4"])
