"""The reference learning-rate schedule, serializable so it survives ``model.keras``/optimizer configs.

As in tensorflow/tpu efficientnet ``utils.build_learning_rate``: linear warmup from 0 over
``warmup_epochs``, then either ``peak * decay_rate ** floor(step / (decay_epochs * steps_per_epoch))``
(the decay counts from step 0, not from the end of warmup) or a cosine from ``peak`` to 0 over the run.
"""
from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="efficientnet_tf")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak_lr, steps_per_epoch, warmup_epochs=5.0, decay="exponential",
                 decay_rate=0.97, decay_epochs=2.4, total_epochs=350):
        if decay not in ("exponential", "cosine"):
            raise ValueError(f"unknown decay {decay!r}: exponential or cosine")
        self.peak_lr = float(peak_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_epochs = float(warmup_epochs)
        self.decay = decay
        self.decay_rate = float(decay_rate)
        self.decay_epochs = float(decay_epochs)
        self.total_epochs = float(total_epochs)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.decay == "exponential":
            decay_steps = self.decay_epochs * self.steps_per_epoch
            lr = self.peak_lr * ops.power(self.decay_rate, ops.floor(step / decay_steps))
        else:
            total_steps = self.total_epochs * self.steps_per_epoch
            lr = 0.5 * self.peak_lr * (1.0 + ops.cos(math.pi * ops.minimum(step / total_steps, 1.0)))
        warmup_steps = self.warmup_epochs * self.steps_per_epoch
        if warmup_steps > 0:
            lr = ops.where(step < warmup_steps, self.peak_lr * step / warmup_steps, lr)
        return lr

    def get_config(self):
        return {k: getattr(self, k) for k in ("peak_lr", "steps_per_epoch", "warmup_epochs", "decay",
                                              "decay_rate", "decay_epochs", "total_epochs")}
