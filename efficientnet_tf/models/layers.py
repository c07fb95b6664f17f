"""The custom layers the model needs, registered so `.keras` files load with ``safe_mode=True``."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import keras
import tensorflow as tf
from keras import ops

PACKAGE = "efficientnet_tf"

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
# The ImageNet channel averages, timm's statistics for inputs that are not RGB (grayscale, RGB-NIR ...).
IMAGENET_MEAN_GRAY = 0.449
IMAGENET_STD_GRAY = 0.226
# Per input scaling of the published weights, as (mean, std) of x / 255 (the std may be per channel):
# "advprop" is (x - 127.5) / 127.5 and "lite" is (x - 127) / 128, the reference's MEAN_RGB/STDDEV_RGB;
# "v2" is x / 128 - 1, EfficientNetV2-S/M/L/XL's (keras.applications' Rescaling(1/128, offset=-1)).
NORMALIZATIONS = ("imagenet", "advprop", "lite", "v2")
_SCALAR_STATS = {"advprop": (0.5, 0.5), "lite": (127.0 / 255.0, 128.0 / 255.0), "v2": (128.0 / 255.0, 128.0 / 255.0)}


def normalization_stats(mode: str, channels: int) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """(mean, std) per channel, in units of x / 255, for ``mode`` on ``channels`` input channels."""
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {mode!r}")
    if int(channels) < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if mode == "imagenet" and channels == 3:
        return IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
    mean, std = _SCALAR_STATS.get(mode, (IMAGENET_MEAN_GRAY, IMAGENET_STD_GRAY))
    return (mean,) * channels, (std,) * channels


def channel_axis(data_format: str) -> int:
    return 1 if data_format == "channels_first" else -1


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImageNormalization(keras.layers.Layer):
    """Maps 0-255 images to ``(x / 255 - mean) / std`` per channel; ``mode`` names the statistics.

    ``mode`` is "imagenet" (the true ImageNet mean/std on 3 channels, their channel averages 0.449 /
    0.226 on any other count), "advprop" or "lite" (see ``NORMALIZATIONS``); explicit ``mean`` and
    ``std`` override it. keras.applications stores the std where the variance belongs and patches it
    with an extra Rescaling (tensorflow/tensorflow#49930); here ``variance`` holds std**2. The layer
    always computes in float32, so it is exact under mixed precision, and its constants are weights,
    so a reloaded model keeps them (keras-team/keras#20147). It carries as many non-trainable numbers
    as keras.applications' V1 Normalization (mean C, variance C, count 1), so parameter counts agree;
    with ``as_weights=False`` it carries none, as keras' V2 (constants) does.
    """

    def __init__(
        self,
        mode: str = "imagenet",
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        data_format: Optional[str] = None,
        as_weights: bool = True,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if mode not in NORMALIZATIONS:
            raise ValueError(f"normalization mode must be one of {NORMALIZATIONS}, got {mode!r}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if mean is not None and (len(mean) != len(std) or not len(mean) or min(std) <= 0):
            raise ValueError(f"mean and std need one value per channel with std > 0, got mean={mean}, std={std}")
        self.mode = mode
        self.mean_init = None if mean is None else tuple(float(m) for m in mean)
        self.std_init = None if std is None else tuple(float(s) for s in std)
        self.data_format = data_format or keras.config.image_data_format()
        self.as_weights = bool(as_weights)

    def build(self, input_shape):
        channels = input_shape[channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(f"ImageNormalization needs a known channel count, got shape {input_shape}")
        if self.mean_init is None:
            self.mean_init, self.std_init = normalization_stats(self.mode, channels)
        if len(self.mean_init) != channels:
            raise ValueError(f"ImageNormalization has {len(self.mean_init)} channel statistics, input shape {input_shape}")
        shape = (channels, 1, 1) if self.data_format == "channels_first" else (channels,)
        self._broadcast = shape
        if not self.as_weights:
            self.mean, self.variance = self.mean_init, tuple(s * s for s in self.std_init)
            return
        init = keras.initializers.Constant
        self.mean = self.add_weight(name="mean", shape=(channels,), initializer=init(self.mean_init), trainable=False)
        self.variance = self.add_weight(
            name="variance", shape=(channels,), initializer=init([s * s for s in self.std_init]), trainable=False
        )
        self.count = self.add_weight(name="count", shape=(), dtype="int64", initializer="zeros", trainable=False)

    def call(self, inputs):
        x = ops.cast(inputs, "float32") / 255.0
        mean = ops.reshape(ops.cast(self.mean, "float32"), self._broadcast)
        return (x - mean) / ops.sqrt(ops.reshape(ops.cast(self.variance, "float32"), self._broadcast))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(), "mode": self.mode, "mean": self.mean_init, "std": self.std_init,
            "data_format": self.data_format, "as_weights": self.as_weights,
        }


def kept(inputs, rate: float, noise_shape, generator: keras.random.SeedGenerator):
    """``inputs`` with each unit of a ``noise_shape`` mask dropped with probability ``rate``, the rest
    scaled by 1 / (1 - rate); the masks differ across tf.distribute replicas.

    The generator's state is a mirrored variable that advances alike on every replica, so the replica
    id is folded into its seed: otherwise every replica would drop the same units and examples' branches.
    Folding is deterministic, so a run draws the same masks given its seed; one replica keeps the
    generator's own seed.
    """
    seed = generator.next()
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
    keep = 1.0 - rate
    noise = tf.random.stateless_uniform(noise_shape, seed=tf.cast(seed, tf.int64), dtype=inputs.dtype)
    return inputs * ops.cast(noise < keep, inputs.dtype) / ops.cast(keep, inputs.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` with masks that differ across replicas (:func:`kept`)."""

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = [ops.shape(inputs)[i] if d is None else d for i, d in enumerate(self.noise_shape or inputs.shape)]
        return kept(inputs, self.rate, shape, self.seed_generator)


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
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        return kept(inputs, self.rate, shape, self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
