"""Training images/s of our EfficientNetB0 against keras.applications.EfficientNetB0, in one process.

Same optimizer (the recipe's RMSpropTF, loss-scaled under float16), loss, batch, resolution and
synthetic data for both; the precision and XLA setting follow ``--precision``/``--jit-compile``
(auto: float32 without XLA on CPU, mixed_bfloat16/float16 with XLA on GPU/TPU). Rounds alternate
between the two models so that load from other processes hits both alike. Prints the ratio ours/keras.

    python benchmarks/train_throughput.py [--batch-size 32] [--image-size 224] [--steps 8] [--rounds 3]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import efficientnet_tf  # noqa: E402
from efficientnet_tf.training.config import OptimizerConfig  # noqa: E402
from efficientnet_tf.training.optimizer import build_optimizer  # noqa: E402
from efficientnet_tf.training.strategy import resolve_jit, resolve_precision  # noqa: E402


def make_step(model, precision, jit):
    optimizer = build_optimizer(OptimizerConfig(), 0.016, precision)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)

    @tf.function(jit_compile=jit)
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, tf.cast(model(images, training=True), tf.float32))
            scaled = optimizer.scale_loss(loss)
        optimizer.apply(tape.gradient(scaled, model.trainable_variables), model.trainable_variables)
        return loss
    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=None, help="default: 32 on CPU, 128 on an accelerator")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--steps", type=int, default=8, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--precision", default="auto")
    p.add_argument("--jit-compile", default="auto")
    args = p.parse_args()
    strategy = tf.distribute.get_strategy()
    precision = resolve_precision(args.precision, strategy)
    jit = resolve_jit(args.jit_compile, strategy)
    batch = args.batch_size or (128 if tf.config.list_logical_devices("GPU") else 32)
    keras.mixed_precision.set_global_policy(precision)
    size = args.image_size
    kwargs = dict(weights=None, input_shape=(size, size, 3), classes=1000)
    models = {"ours": efficientnet_tf.EfficientNetB0(**kwargs), "keras": keras.applications.EfficientNetB0(**kwargs)}
    images = tf.random.uniform((batch, size, size, 3), 0, 255)
    labels = tf.one_hot(tf.random.uniform((batch,), 0, 1000, tf.int32), 1000)
    steps = {name: make_step(m, precision, jit) for name, m in models.items()}
    for name, step in steps.items():  # trace and warm up
        float(step(images, labels))
        float(step(images, labels))
    seconds = {name: 0.0 for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                loss = step(images, labels)
            float(loss)
            seconds[name] += time.perf_counter() - t0
    rate = {name: args.rounds * args.steps * batch / s for name, s in seconds.items()}
    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    print(f"B0 training, {device}, batch {batch}, {size} px, precision {precision}, jit_compile {jit}")
    for name in steps:
        print(f"  {name:6s} {rate[name]:8.1f} images/s")
    print(f"ratio ours/keras: {rate['ours'] / rate['keras']:.3f}")


if __name__ == "__main__":
    main()
