#!/usr/bin/env bash
# Set up a virtual environment (CPU torch 2.13.0, paraspike with the demo extra) and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[demo]"
paraspike demo --out runs/demo/demo_digits.json "$@"
