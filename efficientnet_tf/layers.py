"""The two custom layers the model needs, registered so `.keras` files load with ``safe_mode=True``."""
from __future__ import annotations

import keras
from keras import ops

PACKAGE = "efficientnet_tf"

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImageNormalization(keras.layers.Layer):
    """Maps 0-255 RGB to ``(x / 255 - mean) / std`` with the true ImageNet statistics.

    keras.applications stores the std where the variance belongs and patches it with an extra
    Rescaling (tensorflow/tensorflow#49930); here ``variance`` holds std**2. The layer always
    computes in float32, so it is exact under mixed_float16/mixed_bfloat16 policies, and its
    constants are weights, so a reloaded model keeps them (keras-team/keras#20147). It carries the
    same 7 non-trainable numbers as keras.applications' Normalization (mean, variance, count), so
    parameter counts agree.
    """

    def __init__(self, mean=IMAGENET_MEAN_RGB, std=IMAGENET_STD_RGB, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values with std > 0, got mean={mean}, std={std}")
        self.mean_init = tuple(float(m) for m in mean)
        self.std_init = tuple(float(s) for s in std)

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(f"ImageNormalization expects 3 RGB channels, got shape {input_shape}")
        init = keras.initializers.Constant
        self.mean = self.add_weight(name="mean", shape=(3,), initializer=init(self.mean_init), trainable=False)
        self.variance = self.add_weight(
            name="variance", shape=(3,), initializer=init([s * s for s in self.std_init]), trainable=False
        )
        self.count = self.add_weight(name="count", shape=(), dtype="int64", initializer="zeros", trainable=False)

    def call(self, inputs):
        x = ops.cast(inputs, "float32") / 255.0
        return (x - self.mean) / ops.sqrt(self.variance)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean_init, "std": self.std_init}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StochasticDepth(keras.layers.Layer):
    """Drops the whole residual branch per example with probability ``rate`` while training.

    Survivors are scaled by 1/(1 - rate) so inference needs no rescaling; this is the reference's
    ``drop_connect`` and the same computation as keras.applications' Dropout(noise_shape=(None,1,1,1)).
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"stochastic depth rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(noise < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
