#!/usr/bin/env bash
# The GPU check, in one command, for a contributor with a CUDA GPU (or a GPU machine without network
# access, given the wheels of scripts/fetch_gpu_wheels.sh):
#
#   bash scripts/gpu_check.sh OUT_DIR [WHEEL_DIR]
#
# 1. installs the peers (SpikingJelly 2.0.0, loguru, fla-core, ninja) from the wheels in WHEEL_DIR
#    (default .whl) into a private folder, without network; the project runs from src/ (PYTHONPATH),
#    so nothing else is installed;
# 2. runs the whole test suite with CUDA present: every Triton kernel against the naive reference,
#    compiled (not interpreted), the DSN module on CUDA in both step modes, streamed, in bfloat16,
#    and torch.compile with inductor (tests/test_triton_kernels.py, tests/test_gpu.py);
# 3. runs `paraspike bench speed --device cuda`, the long-sequence suite and the layer suite (SpikingJelly's
#    LIFNode on its Triton kernels; the layer suite once more on its compiled CUDA extension, the
#    successor of its CuPy backend, into OUT_DIR/sj_lif_cuda_extension), and the whole-network benchmark
#    `python -m paraspike.bench.networks --device cuda`.
#
# OUT_DIR receives environment.txt, gpu_check.log (tests and benchmark printouts),
# bench_speed_cuda.{json,md,png}, bench_layers_cuda.{json,md,png} and bench_networks_cuda.{json,md}.
# The exit status is that of the tests (or the first failing part). Needs PyTorch with CUDA, Triton,
# Lightning, onnx, onnxruntime, pytest, scikit-learn, pyyaml, tensorboard and torchmetrics already
# installed (the GPU image has them).
#
# In parts, where a machine is lent for minutes per command (each part into its own OUT_DIR or the same):
#   GPU_CHECK_PARTS="gpu-tests"  the CUDA-only tests (tests/test_gpu.py, tests/test_triton_kernels.py)
#   GPU_CHECK_PARTS="tests"      the whole suite (includes gpu-tests)
#   GPU_CHECK_PARTS="speed layers layers-sj-cuda networks"   the benchmarks, in that order
# Default: tests speed layers layers-sj-cuda networks. GPU_CHECK_QUICK=1 times the benchmarks with
# fewer and shorter rounds (--repeats 5 --min-time 0.3 --cap 4 for the speed suites, --rounds 5
# --min-time 2 for the networks), recorded in each result's command line.
set -uo pipefail
out=${1:?usage: bash scripts/gpu_check.sh OUT_DIR [WHEEL_DIR]}
wheels=${2:-.whl}
python=${PYTHON:-python3}
parts=${GPU_CHECK_PARTS:-tests speed layers layers-sj-cuda networks}
known="gpu-tests tests speed layers layers-sj-cuda networks"
for part in $parts; do
    if [[ " $known " != *" $part "* ]]; then
        echo "[gpu_check] unknown part '$part' in GPU_CHECK_PARTS: use some of: $known" >&2
        exit 64
    fi
done
speed_timing=()
network_timing=()
if [[ "${GPU_CHECK_QUICK:-0}" == 1 ]]; then
    speed_timing=(--repeats 5 --min-time 0.3 --cap 4)
    network_timing=(--rounds 5 --min-time 2)
fi
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
logfile="$out/gpu_check.log"
: > "$logfile"
say() { echo "[gpu_check] $*" | tee -a "$logfile"; }

site=$(mktemp -d)
if compgen -G "$wheels/*.whl" > /dev/null; then
    if $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl; then
        say "installed from $wheels: $(cd "$wheels" && ls -1 ./*.whl | tr '\n' ' ')"
    else
        say "could not install the wheels in $wheels"
    fi
else
    say "no wheels in $wheels: the SpikingJelly and fla peers will be skipped (bash scripts/fetch_gpu_wheels.sh)"
fi
export PYTHONPATH="$PWD/src:$site${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$site/bin:$PATH"
export PYTHONUNBUFFERED=1

{
    nvidia-smi || true
    $python - <<'PY'
import importlib, platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda)
print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NO CUDA DEVICE")
for name in ("triton", "lightning", "onnx", "onnxruntime", "spikingjelly", "fla", "ninja"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "installed"))
    except Exception as error:  # noqa: BLE001
        print(name, "MISSING:", error)
PY
} > "$out/environment.txt" 2>&1
cat "$out/environment.txt" >> "$logfile"
if ! $python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    say "no CUDA device visible to PyTorch: this check needs a GPU"
    exit 2
fi

wants() { [[ " $parts " == *" $1 "* ]]; }
status=0
record() { # record PART STATUS: keep the first failure as the exit status
    say "$1 exit status $2"
    if [[ "$status" == 0 && "$2" != 0 ]]; then status=$2; fi
}
say "parts: $parts${GPU_CHECK_QUICK:+ (GPU_CHECK_QUICK=$GPU_CHECK_QUICK)}"

if wants tests; then
    say "tests (CUDA present: Triton kernels compiled, tests/test_gpu.py enabled)"
    $python -m pytest -q tests -p no:cacheprovider -rs 2>&1 | tee -a "$logfile"
    record tests "${PIPESTATUS[0]}"
elif wants gpu-tests; then
    say "CUDA tests: tests/test_gpu.py and tests/test_triton_kernels.py (Triton kernels compiled)"
    $python -m pytest -q tests/test_gpu.py tests/test_triton_kernels.py -p no:cacheprovider -rs 2>&1 | tee -a "$logfile"
    record gpu-tests "${PIPESTATUS[0]}"
fi
if wants speed; then
    say "paraspike bench speed --device cuda (long sequences)"
    $python -m paraspike bench speed --device cuda "${speed_timing[@]}" --out "$out" 2>&1 | tee -a "$logfile"
    record speed "${PIPESTATUS[0]}"
fi
if wants layers; then
    say "paraspike bench speed --device cuda --suite layers (SpikingJelly's LIF: its Triton kernels)"
    $python -m paraspike bench speed --device cuda --suite layers "${speed_timing[@]}" --out "$out" 2>&1 \
        | tee -a "$logfile"
    record layers "${PIPESTATUS[0]}"
fi
if wants layers-sj-cuda; then
    say "the layer suite again with SpikingJelly's LIF on its compiled CUDA extension (SJ_LIF_CUDA_IMPLEMENTATION=cuda)"
    SJ_LIF_CUDA_IMPLEMENTATION=cuda $python -m paraspike bench speed --device cuda --suite layers \
        "${speed_timing[@]}" --out "$out/sj_lif_cuda_extension" 2>&1 | tee -a "$logfile"
    record layers-sj-cuda "${PIPESTATUS[0]}"
fi
if wants networks; then
    say "python -m paraspike.bench.networks --device cuda (a spiking VGG's training step per neuron)"
    $python -m paraspike.bench.networks --device cuda "${network_timing[@]}" --out "$out" 2>&1 | tee -a "$logfile"
    record networks "${PIPESTATUS[0]}"
fi
say "done: results in $out"
exit "$status"
