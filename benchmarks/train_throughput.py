"""Training images/s of our EfficientNetB0 in our N-step loop against keras.applications.EfficientNetB0
trained by ``model.fit(steps_per_execution=N)``, both at 1 and at N steps per host call, in one process.

Same optimizer (the recipe's RMSpropTF, loss-scaled under float16), loss, batch, resolution and
synthetic data for all four; the precision and XLA setting follow ``--precision``/``--jit-compile``
(auto: float32 without XLA on CPU, mixed_bfloat16/float16 with XLA on GPU/TPU). Ours runs N steps
inside one ``tf.function`` over a dataset iterator with its statistics summed on the device and one
host read per call: the trainer's own loop (``--steps-per-loop``), with the recipe's L2 and label
smoothing but no EMA (keras' fit has none). Rounds alternate between the four so that
load from other processes hits them alike. Prints each rate and the ratios ours/keras.

    python benchmarks/train_throughput.py [--batch-size 32] [--image-size 224] [--steps-per-loop 8] [--loops 2] [--rounds 3]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import efficientnet_tf  # noqa: E402
from efficientnet_tf.training.config import OptimizerConfig, TrainConfig  # noqa: E402
from efficientnet_tf.training.optimizer import build_optimizer  # noqa: E402
from efficientnet_tf.training.steps import Steps  # noqa: E402
from efficientnet_tf.training.strategy import resolve_jit, resolve_precision  # noqa: E402


def our_loop(model, precision, jit, steps_per_loop):
    """The trainer's own N-step loop (:class:`efficientnet_tf.training.steps.Steps`), without EMA,
    so both sides do the same work per step; one host read per call."""
    cfg = TrainConfig()
    optimizer = build_optimizer(cfg.optimizer, 0.016, precision)
    optimizer.build(model.trainable_variables)
    steps = Steps(tf.distribute.get_strategy(), model, optimizer, None, 1000, cfg, jit)
    return lambda iterator: steps.train_loop(iterator, steps_per_loop)


def keras_fit(model, precision, jit, steps_per_loop):
    model.compile(build_optimizer(OptimizerConfig(), 0.016, precision),
                  keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                  steps_per_execution=steps_per_loop, jit_compile=jit != "off")
    return model


def timed(runner, data, calls: int, steps_per_loop: int) -> float:
    """Seconds for ``calls`` host calls of ``steps_per_loop`` steps each (one fit of calls * N steps for keras)."""
    t0 = time.perf_counter()
    if isinstance(runner, keras.Model):
        runner.fit(data, epochs=1, steps_per_epoch=calls * steps_per_loop, shuffle=False, verbose=0)
    else:
        iterator = iter(data)
        for _ in range(calls):
            runner(iterator)  # returns host numbers: each call ends with its one host read
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=None, help="default: 32 on CPU, 128 on an accelerator")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--steps-per-loop", type=int, default=8, help="N: steps per host call, beside 1")
    p.add_argument("--loops", type=int, default=2, help="timed host calls of N steps per round (N times as many at 1)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--precision", default="auto")
    p.add_argument("--jit-compile", default="auto")
    args = p.parse_args()
    strategy = tf.distribute.get_strategy()
    precision = resolve_precision(args.precision, strategy)
    jit = resolve_jit(args.jit_compile, strategy)
    batch = args.batch_size or (128 if tf.config.list_logical_devices("GPU") else 32)
    keras.mixed_precision.set_global_policy(precision)
    size, n = args.image_size, args.steps_per_loop
    kwargs = dict(weights=None, input_shape=(size, size, 3), classes=1000)
    images = tf.random.uniform((batch, size, size, 3), 0, 255)
    labels = tf.one_hot(tf.random.uniform((batch,), 0, 1000, tf.int32), 1000)
    data = tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(2)
    ours = data.map(lambda x, y: (x, y, tf.constant(0, tf.int64)))  # the trainer's batches carry a skip count
    runners = {}
    for k in (1, n):
        runners[f"ours   loop {k}"] = (our_loop(efficientnet_tf.EfficientNetB0(**kwargs), precision, jit, k), k, ours)
        runners[f"keras  fit spe {k}"] = (keras_fit(keras.applications.EfficientNetB0(**kwargs), precision, jit, k), k,
                                          data)
    for runner, k, batches in runners.values():  # trace and warm up
        timed(runner, batches, max(1, 2 // k), k)
    seconds = dict.fromkeys(runners, 0.0)
    for _ in range(args.rounds):
        for name, (runner, k, batches) in runners.items():
            seconds[name] += timed(runner, batches, args.loops * n // k, k)
    rate = {name: args.rounds * args.loops * n * batch / s for name, s in seconds.items()}
    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    print(f"B0 training, {device}, batch {batch}, {size} px, precision {precision}, jit_compile {jit}, "
          f"{args.rounds} x {args.loops * n} timed steps each")
    for name in runners:
        print(f"  {name:18s} {rate[name]:8.1f} images/s")
    for k in (1, n):
        print(f"ratio ours/keras at {k} step(s) per call: {rate[f'ours   loop {k}'] / rate[f'keras  fit spe {k}']:.3f}")
    print(f"ours loop {n} / ours loop 1: {rate[f'ours   loop {n}'] / rate['ours   loop 1']:.3f}")


if __name__ == "__main__":
    main()
