"""The benchmark scripts run end to end at toy sizes, so they cannot rot between the runs that
record their figures (docs/benchmarks.md). Their timings are printed, never asserted."""
import os
import re
import subprocess
import sys

import pytest

from training_helpers import REPO, env


@pytest.mark.slow
def test_inference_prints_every_path_with_its_agreement():
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "inference.py"), "--models", "lite0",
                           "--image-size", "32", "--batches", "1", "--seconds", "0", "--threads", "1"],
                          env=env(), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("lite0 ")]
    paths = [" ".join(r[2:-7]) for r in rows]
    assert paths == ["ours Keras", "ours SavedModel", "LiteRT float32", "LiteRT int8", "ONNX Runtime fp32",
                     "OpenVINO f32", "OpenVINO bf16"]
    for row in rows:
        assert float(row[-6]) > 0 and row[-3].endswith("%") and 0.0 <= float(row[-2]) <= 1.0
    assert [float(r[-1]) for r in rows[:3]] == pytest.approx([0, 0, 0], abs=1e-4)  # float paths agree
    assert re.search(r"peak fp32 estimate \d+-\d+ GMAC/s \(\d+ cores x [\d.]+ GHz x \d+ fp32 lanes", done.stdout)
