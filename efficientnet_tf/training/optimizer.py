"""Optimizer and regularisation of the reference recipe.

RMSProp: Keras 3's ``RMSprop(rho, momentum, epsilon)`` has the TF1 ``RMSPropOptimizer`` update
(epsilon inside the sqrt, lr inside the momentum buffer) but starts the mean-square slot at 0; TF1
started it at 1. With epsilon 1e-3 a zero start makes the first steps ~3x sign(g) * lr, so
``RMSpropTF`` starts it at ones. Weight decay is the reference's L2 term added to the loss, over
trainable variables that do not belong to batch normalization.
"""
from __future__ import annotations

import keras
from keras import ops

from efficientnet_tf.training.config import OptimizerConfig


@keras.saving.register_keras_serializable(package="efficientnet_tf")
class RMSpropTF(keras.optimizers.RMSprop):
    """``keras.optimizers.RMSprop`` with the mean-square accumulator initialised to ones (TF1, timm)."""

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        if name == "velocity":
            initializer = "ones"
        return super().add_optimizer_variables(trainable_variables, name, initializer)


def build_optimizer(cfg: OptimizerConfig, learning_rate, precision: str) -> keras.optimizers.Optimizer:
    """RMSpropTF; under mixed_float16 wrapped in a dynamic LossScaleOptimizer (bfloat16 needs none)."""
    opt = RMSpropTF(learning_rate=learning_rate, rho=cfg.rho, momentum=cfg.momentum, epsilon=cfg.epsilon)
    if precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def batch_norm_variables(model: keras.Model):
    """Variables of BatchNormalization layers, found by layer type rather than by name (the model is flat)."""
    return [v for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization) for v in layer.weights]


def l2_variables(model: keras.Model):
    """Trainable variables that weight decay applies to: all but BN's gamma and beta."""
    bn = {id(v) for v in batch_norm_variables(model)}
    return [v for v in model.trainable_variables if id(v) not in bn]


def l2_loss(variables, weight_decay: float):
    """``weight_decay * sum(v**2) / 2`` over ``variables`` (tf.nn.l2_loss summed), in float32."""
    return weight_decay * ops.sum(ops.stack([ops.sum(ops.square(ops.cast(v, "float32"))) for v in variables])) / 2.0
