#!/usr/bin/env bash
# Download the wheels scripts/gpu_check.sh installs on a GPU machine without network access: the peers
# the tests and benchmarks compare with (SpikingJelly 2.0.0 and loguru, flash-linear-attention's
# fla-core) and ninja (builds the CPU kernels). Run it where pip reaches PyPI; the wheels land in
# WHEEL_DIR (default .whl, ignored by git) for Python PY_VERSION (default 3.12, the GPU image's).
#   bash scripts/fetch_gpu_wheels.sh [WHEEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
py=${PY_VERSION:-3.12}
mkdir -p "$dir"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$dir" spikingjelly==2.0.0 loguru fla-core ninja
ls -1 "$dir"
