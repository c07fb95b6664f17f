#!/usr/bin/env bash
# The one-shot GPU benchmark: run it once on the first accelerator host, unedited, in under 8 minutes;
# it prints a table against NVIDIA's A100 anchors (benchmarks/device.py says what it measures).
# DEVICE_SMOKE=1 runs it at toy sizes on CPU, as tests/test_benchmarks.py does.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
ARGS=()
if [ "${DEVICE_SMOKE:-0}" = "1" ]; then ARGS+=(--smoke); fi
exec timeout 480 "$PY" benchmarks/device.py "${ARGS[@]}"
