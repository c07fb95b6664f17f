"""The paper's Table 4: CPU latency at batch 1 on one core, the mean of 20 runs.

B1 is timed against keras.applications' ResNet-152, and B7 alone (GPipe, its partner in the paper,
cannot be built here). Only the ratio carries over between machines: the paper's seconds are quoted
from one core of a Xeon E5-2690. One core is one TensorFlow thread, which can only be set before
TensorFlow starts, so this runs in a fresh process (``efficientnet-tf paper 4``).
"""
from __future__ import annotations

import sys
import time
from typing import List, Optional

import keras

from efficientnet_tf.models.efficientnet import MIN_SIZE, create_model

# Seconds at batch 1 on one core (the paper's Table 4), and the speedup it reports for B1.
PAPER_TABLE4 = {"B1": 0.098, "ResNet-152": 0.554, "B7": 3.1, "GPipe": 19.0}
PAPER_SPEEDUP = 5.7
MODELS = {  # what is timed here: label -> (builder taking an input shape, the paper's resolution)
    "B1": (lambda shape: create_model("b1", input_shape=shape), 240),
    "ResNet-152": (lambda shape: keras.applications.ResNet152(weights=None, input_shape=shape), 224),
    "B7": (lambda shape: create_model("b7", input_shape=shape), 600),
}


def one_thread() -> None:
    """Every op on one thread, as on the paper's single core; TensorFlow must not have started yet."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        threads = tf.config.threading.get_intra_op_parallelism_threads()
        raise ValueError(f"TensorFlow already started with {threads or 'all'} threads per op; "
                         "time Table 4 in a fresh process (efficientnet-tf paper 4)") from None


def mean_latency(model: keras.Model, runs: int, warmup: int = 2) -> float:
    """Seconds per batch-1 call of the traced model, averaged over ``runs`` after ``warmup`` calls."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False))
    image = tf.random.uniform((1,) + tuple(model.inputs[0].shape[1:]), 0, 255)
    for _ in range(warmup):
        call(image).numpy()
    total = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        call(image).numpy()
        total += time.perf_counter() - start
    return total / runs


def table4(runs: int = 20, size: Optional[int] = None) -> List[dict]:
    """Each model's mean latency at its paper resolution, or all at ``size`` (a quick check only)."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if size is not None and size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE}, got {size}")
    one_thread()
    rows = []
    for label, (build, resolution) in MODELS.items():
        resolution = size or resolution
        seconds = mean_latency(build((resolution, resolution, 3)), runs)
        rows.append({"model": label, "resolution": resolution, "seconds": seconds,
                     "paper_seconds": PAPER_TABLE4[label]})
        print(f"timed {label}", file=sys.stderr, flush=True)
    return rows


def format_table4(rows: List[dict], runs: int) -> str:
    """The latencies, the paper's (quoted), and ResNet-152 / B1 beside the paper's 5.7x."""
    by_model = {r["model"]: r for r in rows}
    lines = [f"Table 4: latency at batch 1 on one thread, mean of {runs} runs. Columns marked * are quoted from",
             "the paper (one core of a Xeon E5-2690); only the ratio carries over between machines.",
             f"{'model':<12}{'res':>5}{'latency ms':>12}{'paper* s':>10}"]
    lines += [f"{r['model']:<12}{r['resolution']:>5}{r['seconds'] * 1e3:>12.1f}{r['paper_seconds']:>10.3f}"
              for r in rows]
    speedup = by_model["ResNet-152"]["seconds"] / by_model["B1"]["seconds"]
    lines.append(f"ResNet-152 / B1: {speedup:.2f}x here, {PAPER_SPEEDUP}x in the paper*")
    lines.append(f"B7: {by_model['B7']['seconds']:.2f} s here, {PAPER_TABLE4['B7']} s in the paper* "
                 f"(GPipe's {PAPER_TABLE4['GPipe']} s* there is not built here)")
    return "\n".join(lines)
