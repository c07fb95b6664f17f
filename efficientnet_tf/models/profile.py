"""Parameters and multiply-adds counted from a built model's layers.

MACs count convolutions (standard, depthwise, 1x1 including squeeze-excite) and dense layers, the
operations the paper's "FLOPs" (really multiply-adds) report; element-wise ops (BN, activations,
the SE product, residual adds) are left out, which is why TF's profiler gives ~3% more.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Tuple

import keras

from efficientnet_tf.models.features import FeatureInfo, feature_info


@dataclasses.dataclass(frozen=True)
class Profile:
    params: int
    trainable_params: int
    macs: int
    input_shape: tuple
    # The stage endpoints (``features.feature_info``); empty for a model that wraps a backbone.
    features: Tuple[FeatureInfo, ...]


def _positions_and_channels_in(layer) -> tuple:
    """Output positions and input channels, in either data format."""
    out, inp = layer.output.shape, layer.input.shape
    if layer.data_format == "channels_first":
        return out[2] * out[3], inp[1]
    return out[1] * out[2], inp[-1]


def _layer_macs(layer) -> int:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        positions, channels = _positions_and_channels_in(layer)
        kh, kw = layer.kernel_size
        return positions * kh * kw * channels * layer.depth_multiplier
    if isinstance(layer, keras.layers.Conv2D):
        positions, channels = _positions_and_channels_in(layer)
        kh, kw = layer.kernel_size
        return positions * kh * kw * channels * layer.filters // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return math.prod(layer.input.shape[1:]) * layer.units
    return 0


def profile(model: keras.Model) -> Profile:
    """Counts for one image; the model needs a static input size."""
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"profile needs a static input size, the model takes {shape}; pass input_shape=")
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return Profile(
        params=model.count_params(),
        trainable_params=trainable,
        macs=sum(_layer_macs(l) for l in model.layers),
        input_shape=shape,
        features=feature_info(model) if any(l.name == "stem_conv" for l in model.layers) else (),
    )
