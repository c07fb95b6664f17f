"""B0 inference throughput on CPU, in one process: our Keras model, SavedModel and TFLite float32/int8
exports against ``keras.applications.EfficientNetB0``, at batch 1 and 32.

Prints images/s, the ratio to keras.applications at the same batch, GMAC/s reached (the model's
multiply-adds per image x images/s) and the peak RSS. Graph-mode ``tf.function`` without XLA for
the Keras paths (XLA on CPU is ~12x slower here); TFLite runs with XNNPACK on ``--threads``.

    python benchmarks/inference.py [--image-size 224] [--batches 1 32] [--seconds 3]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from efficientnet_tf import create_model, profile  # noqa: E402
from efficientnet_tf.data import build_dataset  # noqa: E402
from efficientnet_tf.serving.saved_model import export_saved_model  # noqa: E402
from efficientnet_tf.serving.tflite import TFLiteModel, convert, representative_images  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def images_per_second(fn, images, seconds: float) -> float:
    """Batch size / median latency over at least ``seconds`` (and 5 calls), after 2 warm-up calls."""
    for _ in range(2):
        np.asarray(fn(images))
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        np.asarray(fn(images))
        times.append(time.perf_counter() - t)
    return len(images) / statistics.median(times)


def keras_fn(model):
    call = tf.function(lambda x: model(x, training=False), jit_compile=False)
    return lambda x: call(tf.constant(x))


def build_paths(size: int, batch: int, threads: int, workdir: str):
    """Name -> callable on float32 0-255 images; TFLite files are converted for this fixed batch."""
    reference = keras.applications.EfficientNetB0(weights=None, input_shape=(size, size, 3))
    ours = create_model("b0", input_shape=(size, size, 3))
    saved = export_saved_model(ours, os.path.join(workdir, f"saved_model_{batch}"))
    serving = tf.saved_model.load(saved).signatures["serving_default"]
    calibration, _ = build_dataset("digits", "train", size, 16, training=False)
    int8 = convert(ours, "int8", representative_images(calibration, 32), batch_size=batch)
    paths = {
        "keras.applications": keras_fn(reference),
        "ours Keras": keras_fn(ours),
        "ours SavedModel": lambda x: serving(images=tf.constant(x))["probabilities"],
        "ours TFLite float32": TFLiteModel(convert(ours, "float32", batch_size=batch), num_threads=threads),
        "ours TFLite int8": TFLiteModel(int8, num_threads=threads),
    }
    return paths, profile(ours).macs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per path and batch")
    parser.add_argument("--threads", type=int, default=2, help="TFLite interpreter threads")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    print(f"{'path':<22}{'batch':>6}{'img/s':>10}{'ms/batch':>10}{'ratio':>8}{'GMAC/s':>9}{'RSS MiB':>9}")
    for batch in args.batches:
        with tempfile.TemporaryDirectory() as workdir:
            paths, macs = build_paths(args.image_size, batch, args.threads, workdir)
            images = rng.uniform(0, 255, (batch, args.image_size, args.image_size, 3)).astype(np.float32)
            baseline = None
            for name, fn in paths.items():
                ips = images_per_second(fn, images, args.seconds)
                baseline = baseline or ips
                print(f"{name:<22}{batch:>6}{ips:>10.1f}{1000 * batch / ips:>10.2f}{ips / baseline:>8.2f}"
                      f"{ips * macs / 1e9:>9.1f}{peak_rss_mib():>9.0f}", flush=True)
    print(f"B0 at {args.image_size} px, {macs / 1e9:.3f} GMAC/image, {os.cpu_count()} CPUs, TF {tf.__version__}")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
