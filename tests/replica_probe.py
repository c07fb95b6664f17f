"""Measures what replicas do, on 2 logical CPU devices under MirroredStrategy (as across 2 GPUs).

    python tests/replica_probe.py OUT.json

A process of its own, because the logical devices must be set before TensorFlow starts. Writes one
JSON object of measurements that tests/test_replicas.py asserts on: the loss-scale agreement after an
overflow on one replica, the EMA of BN statistics that differ per replica, and dropout and
stochastic-depth masks per replica.
"""
import json
import sys

import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from efficientnet_tf.models.layers import Dropout, StochasticDepth  # noqa: E402
from efficientnet_tf.training import config as config_lib  # noqa: E402
from efficientnet_tf.training.ema import ExponentialMovingAverage  # noqa: E402
from efficientnet_tf.training.optimizer import build_optimizer  # noqa: E402
from efficientnet_tf.training.steps import Steps  # noqa: E402

STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
CLASSES, PER_REPLICA = 4, 2


def _per_replica(variable):
    """Each replica's copy of a Keras or TensorFlow variable."""
    return [np.asarray(v) for v in STRATEGY.experimental_local_results(variable.value if isinstance(variable, keras.Variable) else variable)]


def _batches(first_images, second_images):
    """Replica 0 trains on ``first_images``, replica 1 on ``second_images``, then both on the first."""
    images = np.stack([first_images, second_images] + [first_images] * 6).astype("float32")
    labels = np.tile(np.arange(PER_REPLICA, dtype="int32"), (8, 1))
    dataset = tf.data.Dataset.from_tensor_slices((images, labels, np.zeros(8, "int64")))
    return iter(STRATEGY.distribute_datasets_from_function(lambda ctx: dataset))


def _steps(model, optimizer, ema=None, jit="off"):
    cfg = config_lib.TrainConfig()
    return Steps(STRATEGY, model, optimizer, ema, CLASSES, cfg, jit)


def loss_scale_after_one_replica_overflows(jit):
    """Pixels of 1000 on replica 1 only: float16 gradients of the dense kernel overflow there alone
    (1000 x 0.5 x 32768 > 65504) while the loss stays finite."""
    keras.utils.set_random_seed(0)
    with STRATEGY.scope():
        inputs = keras.Input((4, 4, 3))
        x = keras.layers.GlobalAveragePooling2D(dtype="mixed_float16")(inputs)
        outputs = keras.layers.Dense(CLASSES, activation="softmax", dtype="float32")(
            keras.layers.Dense(8, dtype="mixed_float16")(x))
        model = keras.Model(inputs, outputs)
        optimizer = build_optimizer(config_lib.OptimizerConfig(), 0.01, "mixed_float16")
        optimizer.build(model.trainable_variables)
    steps = _steps(model, optimizer, jit=jit)
    iterator = _batches(np.ones((PER_REPLICA, 4, 4, 3)), np.full((PER_REPLICA, 4, 4, 3), 1000.0))
    before = [_per_replica(v) for v in model.trainable_variables]
    first = steps.train_loop(iterator, 1)
    after_overflow = [_per_replica(v) for v in model.trainable_variables]
    scale_after_overflow = _per_replica(optimizer.dynamic_scale)
    iterations_after_overflow = _per_replica(optimizer.iterations)
    second = steps.train_loop(iterator, 1)
    after_next = [_per_replica(v) for v in model.trainable_variables]
    return {
        "first_loss_finite": bool(np.isfinite(first["loss_sum"])),
        "unchanged_by_overflow": all(np.array_equal(b[r], a[r]) for b, a in zip(before, after_overflow) for r in (0, 1)),
        "finite_after_overflow": all(np.isfinite(a[r]).all() for a in after_overflow for r in (0, 1)),
        "scale_after_overflow": [float(s) for s in scale_after_overflow],
        "iterations_after_overflow": [int(i) for i in iterations_after_overflow],
        "second_bad_step": second["bad_step"],
        "trained_after": any(not np.array_equal(a[0], n[0]) for a, n in zip(after_overflow, after_next)),
        "replicas_equal_after": all(np.array_equal(n[0], n[1]) for n in after_next),
        "finite_after_next": all(np.isfinite(n[r]).all() for n in after_next for r in (0, 1)),
        "scale_after_next": [float(s) for s in _per_replica(optimizer.dynamic_scale)],
    }


def ema_of_statistics_that_differ_per_replica():
    """Replica 0 normalizes zeros, replica 1 pixels of 100: their BN moving means part, and so do the
    EMA shadows of them until the sync."""
    keras.utils.set_random_seed(0)
    with STRATEGY.scope():
        inputs = keras.Input((4, 4, 3))
        x = keras.layers.BatchNormalization(momentum=0.5)(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(x))
        optimizer = build_optimizer(config_lib.OptimizerConfig(), 0.01, "float32")
        optimizer.build(model.trainable_variables)
        ema = ExponentialMovingAverage(model, 0.9999)
    steps = _steps(model, optimizer, ema)
    steps.train_loop(_batches(np.zeros((PER_REPLICA, 4, 4, 3)), np.full((PER_REPLICA, 4, 4, 3), 100.0)), 1)
    bn = model.layers[1]
    moving_means = _per_replica(bn.moving_mean)
    shadow = next(s for s, v in zip(ema.shadows, ema.variables) if v is bn.moving_mean.value)
    shadows_before_sync = _per_replica(shadow)
    steps.sync_statistics()
    return {"moving_means": [m.tolist() for m in moving_means],
            "shadows_before_sync": [s.tolist() for s in shadows_before_sync],
            "shadows_after_sync": [s.tolist() for s in _per_replica(shadow)],
            "ema_updates": [int(n) for n in _per_replica(ema.num_updates)]}


def masks(seed):
    """Two steps of dropout and stochastic-depth masks on each replica, from layers built after
    ``keras.utils.set_random_seed(seed)``: [step][replica] lists of kept positions."""
    keras.utils.set_random_seed(seed)
    with STRATEGY.scope():
        dropout, depth = Dropout(0.5), StochasticDepth(0.5)

    @tf.function
    def step():
        def replica_fn():
            ones = tf.ones([8, 16])
            return dropout(ones, training=True), depth(tf.ones([8, 2, 2, 1]), training=True)
        return STRATEGY.run(replica_fn)

    out = []
    for _ in range(2):
        drop, sd = step()
        out.append({"dropout": [np.asarray(t).tolist() for t in STRATEGY.experimental_local_results(drop)],
                    "depth": [np.asarray(t)[:, 0, 0, 0].tolist() for t in STRATEGY.experimental_local_results(sd)]})
    return out


def main(path):
    result = {"overflow": loss_scale_after_one_replica_overflows("off"),
              "overflow_jit": loss_scale_after_one_replica_overflows("grads"),
              "ema": ema_of_statistics_that_differ_per_replica(),
              "masks": [masks(7), masks(7), masks(8)]}
    with open(path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
