"""Weight EMA as in the reference: ``tf.train.ExponentialMovingAverage(0.9999, num_updates=step)``.

It averages the trainable variables AND the BN moving statistics (the reference's ``moving_vars``);
Keras' ``use_ema`` covers trainable variables only. ``num_updates`` makes the effective decay
``min(decay, (1 + n) / (10 + n))``, so the average is useful early and in short runs. Evaluation and
export swap the averages in.

Under tf.distribute the shadows are mirrored variables updated inside the replica step, each replica
on its own copy, as Keras updates BN moving statistics: the weights' shadows stay identical, and the
statistics' shadows follow their own replica's statistics until ``Steps.sync_statistics`` averages
both across replicas.
"""
from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from efficientnet_tf.training.optimizer import batch_norm_variables


class ExponentialMovingAverage:
    def __init__(self, model: keras.Model, decay: float):
        """Create inside the strategy scope so the shadows are placed like the model's variables."""
        bn_stats = [v for v in batch_norm_variables(model) if not v.trainable]
        self.decay = decay
        self.variables = [v.value for v in model.trainable_variables + bn_stats]
        self.shadows = [tf.Variable(v.read_value(), trainable=False, name="ema") for v in self.variables]
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="ema_updates")
        self.statistics_shadows = self.shadows[len(model.trainable_variables):]

    def update(self):
        """Call inside the replica step, after the optimizer update (or outside any strategy)."""
        self.num_updates.assign_add(1)
        n = tf.cast(self.num_updates, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
        for shadow, var in zip(self.shadows, self.variables):
            shadow.assign_sub((1.0 - decay) * (shadow - var))

    def copy_to_model(self):
        for shadow, var in zip(self.shadows, self.variables):
            var.assign(shadow)

    @contextlib.contextmanager
    def swapped(self):
        """The model holds the averages inside the block and its own weights again after it."""
        saved = [tf.identity(v) for v in self.variables]
        self.copy_to_model()
        try:
            yield
        finally:
            for value, var in zip(saved, self.variables):
                var.assign(value)
