"""The benchmark scripts run end to end at toy sizes, so they cannot rot between the runs that
record their figures (docs/benchmarks.md). Their timings are printed, never asserted."""
import importlib
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


@pytest.mark.slow
def test_device_script_runs_every_step_at_toy_sizes_on_cpu():
    done = subprocess.run(["bash", os.path.join(REPO, "benchmarks", "device.sh")], env=env(DEVICE_SMOKE="1"),
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "failed:" not in done.stdout, done.stdout
    table = done.stdout.split("A100 anchor")[1].strip().splitlines()[1:]  # after the header's "ratio"
    names = [re.split(r"\s{2,}", row.strip())[0] for row in table]
    assert names == ["inference Keras mixed_bfloat16 XLA", "inference SavedModel mixed_bfloat16",
                     "training synthetic (AMP, XLA)", "training real pipeline + RandAugment"]
    for row in table:
        ips, anchor, ratio = map(float, row.split()[-3:])
        assert ips > 0 and anchor in (9730, 3454) and ratio == pytest.approx(ips / anchor, abs=0.01)
    assert "inference ONNX Runtime: skipped (no CUDA or TensorRT provider installed)" in done.stdout


def test_device_script_adds_a_two_gpu_mirrored_run_only_where_there_are_several_gpus(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(REPO, "benchmarks"))
    device = importlib.import_module("device")
    assert device.replicas_case(0) is None and device.replicas_case(1) is None
    name, flags, environ = device.replicas_case(4)
    assert (name, flags, environ) == ("training real pipeline, 2 GPUs mirrored", ["--strategy", "mirrored"],
                                      {"CUDA_VISIBLE_DEVICES": "0,1"})
    assert device.anchor_for(name) == 2 * 3454 and device.anchor_for("training synthetic (AMP, XLA)") == 3454


def test_input_pipeline_end_to_end_prints_both_ratios():
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "input_pipeline.py"), "--end-to-end",
                           "--images", "64", "--rounds", "1", "--records", "64", "--size", "32"],
                          env=env(), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    ratios = re.findall(r"^  (no augmentation|\+ RandAugment\(2, 10\)) +bare +\d+ +build_dataset +\d+ +"
                        r"end-to-end/bare +([\d.]+)$", done.stdout, re.M)
    assert [name for name, _ in ratios] == ["no augmentation", "+ RandAugment(2, 10)"]
    assert all(float(r) > 0 for _, r in ratios)
