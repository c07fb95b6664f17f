"""The three parts every EfficientNet is built from: stem, stages of (fused) MBConv blocks, and head.

Each part names its layers as keras.applications does (``stem_activation``, ``block{stage}{letter}_*``,
``top_activation``), and those names are the structure's record: ``features.feature_info`` reads the
stage endpoints back from them, on a freshly built model or a reloaded ``.keras`` file alike.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, Union

from keras import layers

from efficientnet_tf.models.block_args import BlockArgs
from efficientnet_tf.models.blocks import (
    BN_EPSILON, FAMILIES, Family, batch_norm, conv, fused_mbconv_block, mbconv_block, pad_for,
)

DEPTH_ROUNDING = ("ceil", "nearest")
Activation = Union[str, Callable]


def round_filters(filters: float, width_coefficient: float, depth_divisor: int = 8,
                  round_up_lost_10pct: bool = True) -> int:
    """Scales by width and rounds to the nearest multiple of the divisor; V1 never loses more than 10%."""
    filters *= width_coefficient
    new = max(depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
    if round_up_lost_10pct and new < 0.9 * filters:
        new += depth_divisor
    return int(new)


def round_repeats(repeats: int, depth_coefficient: float, rounding: str = "ceil") -> int:
    """The reference rounds up ("ceil"); "nearest" keeps compound scaling's MACs on alpha*beta^2*gamma^2."""
    if rounding not in DEPTH_ROUNDING:
        raise ValueError(f"depth_rounding must be one of {DEPTH_ROUNDING}, got {rounding!r}")
    scaled = depth_coefficient * repeats
    return max(1, int(math.ceil(scaled) if rounding == "ceil" else math.floor(scaled + 0.5)))


def stem(x, filters: int, activation: Activation, data_format: str, padding: str = "same",
         bn_epsilon: float = BN_EPSILON, family: Family = FAMILIES["v1"]):
    """3x3 stride-2 conv, padded as TF's "same" so that the reference's weights port (or as ``padding`` says)."""
    x, pad = pad_for(x, 3, 2, "stem_conv_pad", data_format, padding, family)
    x = conv(filters, 3, "stem_conv", data_format, strides=2, padding=pad)(x)
    x = batch_norm("stem_bn", data_format, bn_epsilon)(x)
    return layers.Activation(activation, name="stem_activation")(x)


def stage_repeats(blocks: Sequence[BlockArgs], depth_coefficient: float, rounding: str, fix_ends: bool):
    """Blocks per stage; with ``fix_ends`` (EfficientNet-Lite) the first and last stages keep theirs."""
    last = len(blocks) - 1
    return [
        b.num_repeat if fix_ends and i in (0, last) else round_repeats(b.num_repeat, depth_coefficient, rounding)
        for i, b in enumerate(blocks)
    ]


def stages(
    x,
    blocks: Sequence[BlockArgs],
    repeats: Sequence[int],
    filters: Callable[[int], int],
    *,
    drop_connect_rate: float,
    activation: Activation,
    use_se: bool,
    data_format: str,
    padding: str = "same",
    bn_epsilon: float = BN_EPSILON,
    family: Family = FAMILIES["v1"],
):
    """Every stage's blocks; the stochastic-depth rate grows linearly over the block index."""
    total, index = float(sum(repeats)), 0
    for stage, (b, repeat) in enumerate(zip(blocks, repeats)):
        filters_in, filters_out = filters(b.input_filters), filters(b.output_filters)
        block = fused_mbconv_block if b.fused else mbconv_block
        for j in range(repeat):
            x = block(
                x,
                name=f"block{stage + 1}{chr(ord('a') + j)}_",
                filters_in=filters_in if j == 0 else filters_out,
                filters_out=filters_out,
                kernel_size=b.kernel_size,
                strides=b.stride if j == 0 else 1,
                expand_ratio=b.expand_ratio,
                se_ratio=b.se_ratio if use_se else None,
                id_skip=b.id_skip,
                drop_rate=drop_connect_rate * index / total,
                activation=activation,
                data_format=data_format,
                padding=padding,
                bn_epsilon=bn_epsilon,
                family=family,
            )
            index += 1
    return x


def head(x, filters: int, activation: Activation, data_format: str, bn_epsilon: float = BN_EPSILON):
    """The 1x1 conv to the feature width (``top_activation``, the stride-32 features)."""
    x = conv(filters, 1, "top_conv", data_format)(x)
    x = batch_norm("top_bn", data_format, bn_epsilon)(x)
    return layers.Activation(activation, name="top_activation")(x)
