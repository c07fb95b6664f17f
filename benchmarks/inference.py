"""Inference on CPU, every serving path in one process, as ratios: keras.applications' B0 and ours in
Keras, the SavedModel's ``serving_default``, LiteRT float32 and int8 (XNNPACK), ONNX Runtime float32,
and OpenVINO f32 and bf16, for B0 and Lite0 at batch 1 (median latency) and batch 32 (images/s).

Each path is compared with our Keras model on the timed images (max |probability difference|,
top-1 agreement; random weights, so int8's agreement is a lower bound) and its rate is given as a
share of the machine's peak multiply-add rate, estimated from the cores, the clock and the vector
width (printed with the estimate). The ratio column divides by keras.applications' B0 at the same
batch (Lite0 has no keras.applications peer: its ratios divide by our Keras Lite0). Keras paths run
graph-mode ``tf.function`` without XLA (12x slower on CPU here).

    python benchmarks/inference.py [--models b0 lite0] [--batches 1 32] [--seconds 3] [--image-size N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from efficientnet_tf import create_model, profile  # noqa: E402
from efficientnet_tf.serving.held_out import agreement, held_out  # noqa: E402
from efficientnet_tf.serving.onnx_export import ONNXModel, export_onnx  # noqa: E402
from efficientnet_tf.serving.saved_model import export_saved_model  # noqa: E402
from efficientnet_tf.serving.tflite import TFLiteModel, convert  # noqa: E402


def peak_gmacs() -> tuple:
    """(low, high) peak GMAC/s in fp32 and how it was estimated: cores x clock x fp32 lanes x FMA
    units (1 or 2 per core, which /proc/cpuinfo does not say)."""
    flags, mhz = set(), 0.0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("cpu MHz") and not mhz:
                    mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    cores = os.cpu_count() or 1
    base = cores * mhz / 1000 * lanes
    how = f"{cores} cores x {mhz / 1000:.2f} GHz x {lanes} fp32 lanes x 1-2 FMA units"
    return base, 2 * base, how


def latency_and_rate(fn, images, seconds: float) -> tuple:
    """(median ms per call, images/s) over at least ``seconds`` and 5 calls, after 2 warm-up calls."""
    for _ in range(2):
        np.asarray(fn(images))
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        np.asarray(fn(images))
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    return 1000 * median, len(images) / median


def keras_fn(model):
    call = tf.function(lambda x: model(x, training=False), jit_compile=False)
    return lambda x: np.asarray(call(tf.constant(x)))


def build_paths(variant: str, size: int, batch: int, threads: int, workdir: str):
    """(name -> callable on float32 0-255 images, our Keras model); TFLite is converted for this batch."""
    ours = create_model(variant, input_shape=(size, size, 3))
    paths = {}
    if variant == "b0":
        paths["keras.applications"] = keras_fn(keras.applications.EfficientNetB0(weights=None, input_shape=(size, size, 3)))
    paths["ours Keras"] = keras_fn(ours)
    serving = tf.saved_model.load(export_saved_model(ours, os.path.join(workdir, "saved_model"))).signatures["serving_default"]
    paths["ours SavedModel"] = lambda x: serving(images=tf.constant(x))["probabilities"]
    calibration = held_out("digits", size, num_images=32).calibration
    paths["LiteRT float32"] = TFLiteModel(convert(ours, "float32", batch_size=batch), num_threads=threads)
    paths["LiteRT int8"] = TFLiteModel(convert(ours, "int8", calibration, batch_size=batch), num_threads=threads)
    onnx_file = export_onnx(ours, os.path.join(workdir, "model.onnx"))
    paths["ONNX Runtime fp32"] = ONNXModel(onnx_file, num_threads=threads)
    paths["OpenVINO f32"] = ONNXModel(onnx_file, "openvino", "f32")
    paths["OpenVINO bf16"] = ONNXModel(onnx_file, "openvino", "bf16")
    return paths, ours


def run_case(variant: str, batch: int, args, rows: list) -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, args.image_size, args.image_size, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as workdir:
        paths, ours = build_paths(variant, args.image_size, batch, args.threads, workdir)
        macs = profile(ours).macs
        baseline = None
        for name, fn in paths.items():
            ms, ips = latency_and_rate(fn, images, args.seconds)
            baseline = baseline or ips
            check = agreement(ours, fn, images) if name != "keras.applications" else None
            rows.append((variant, batch, name, ms, ips, ips / baseline, ips * macs / 1e9, check))
            top1 = f"{check['top1_agreement']:.2f}" if check else "-"
            diff = f"{check['max_abs_diff']:.1e}" if check else "-"
            print(f"{variant:<6}{batch:>6}  {name:<20}{ms:>9.2f}{ips:>9.1f}{ips / baseline:>7.2f}"
                  f"{ips * macs / 1e9:>8.1f}{100 * ips * macs / 1e9 / args.peak:>7.0f}%{top1:>6}{diff:>9}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["b0", "lite0"], choices=["b0", "lite0"])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per path and batch")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="LiteRT and ONNX Runtime threads")
    args = parser.parse_args(argv)
    low, high, how = peak_gmacs()
    args.peak = high
    print(f"peak fp32 estimate {low:.0f}-{high:.0f} GMAC/s ({how}); '% peak' divides by {high:.0f}")
    print(f"{'model':<6}{'batch':>6}  {'path':<20}{'ms':>9}{'img/s':>9}{'ratio':>7}{'GMAC/s':>8}{'% peak':>8}"
          f"{'top1':>6}{'max|d|':>9}")
    rows = []
    for variant in args.models:
        for batch in args.batches:
            run_case(variant, batch, args, rows)
    full = [r for r in rows if r[0] == "b0" and "int8" not in r[2] and "bf16" not in r[2]]
    for batch in args.batches:
        best = max((r for r in full if r[1] == batch), key=lambda r: r[5], default=None)
        any_precision = max((r for r in rows if r[0] == "b0" and r[1] == batch), key=lambda r: r[5], default=None)
        if best:
            agree = any_precision[7]["top1_agreement"] if any_precision[7] else 1.0
            print(f"B0 batch {batch}: best full-precision path {best[2]} at {best[5]:.2f}x keras.applications; "
                  f"best of any precision {any_precision[2]} at {any_precision[5]:.2f}x (top-1 agreement {agree:.2f})")
    print(f"{args.image_size} px, {os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
