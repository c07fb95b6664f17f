"""MobileNetV1 and ResNet-50, scaled as the paper's Table 3 scales them: width by the EfficientNet
builder's ``round_filters`` on every conv, depth by its ``round_repeats`` (ceil(d * n)) on each stage's
blocks, resolution by the input size.

Unscaled, both are keras.applications' ``MobileNet()`` and ``ResNet50()`` layer for layer: the same
names, weight shapes and parameter counts, so a scaled row of Table 3 differs from the published
baseline only by the scaling. Inputs are what keras.applications' own ``preprocess_input`` gives;
there is no preprocessing layer. The classifier keeps ``classes`` outputs at any width.
"""
from __future__ import annotations

from typing import Optional, Tuple

import keras
from keras import layers

from efficientnet_tf.models.builder import round_filters, round_repeats
from efficientnet_tf.models.layers import channel_axis

# (pointwise filters, stride of the first block, blocks): MobileNetV1's 13 separable blocks grouped
# into stages at each stride-2 block, as MobileNetV2's block strings group theirs. Depth repeats every
# block of a stage, the strided first one too (d=4: 4, 8, 8, 24, 8 blocks).
MOBILENETV1_STAGES: Tuple[Tuple[int, int, int], ...] = ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 2, 6), (1024, 2, 2))
# (bottleneck filters, stride of the first block, blocks): ResNet-50's conv2-conv5 stages, [3, 4, 6, 3].
RESNET50_STAGES: Tuple[Tuple[int, int, int], ...] = ((64, 1, 3), (128, 2, 4), (256, 2, 6), (512, 2, 3))
RESNET_BN_EPSILON = 1.001e-5  # keras.applications' ResNet; MobileNet keeps Keras' 1e-3


def _input(resolution: int):
    first = keras.config.image_data_format() == "channels_first"
    return layers.Input(shape=(3, resolution, resolution) if first else (resolution, resolution, 3))


def _bn(name: str, epsilon: float = 1e-3):
    return layers.BatchNormalization(axis=channel_axis(keras.config.image_data_format()), epsilon=epsilon, name=name)


def _separable(x, filters: int, stride: int, block: int):
    """keras.applications' depthwise-separable block: dw 3x3, BN, ReLU6, pw 1x1, BN, ReLU6."""
    if stride > 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block}")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
                               name=f"conv_dw_{block}")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block}_relu")(_bn(f"conv_dw_{block}_bn")(x))
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"conv_pw_{block}")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block}_relu")(_bn(f"conv_pw_{block}_bn")(x))


def MobileNetV1(width: float = 1.0, depth: float = 1.0, resolution: int = 224, *, include_top: bool = True,
                classes: int = 1000, name: Optional[str] = None) -> keras.Model:
    """MobileNetV1 (Howard et al., 2017) at any width, depth and resolution: 4,253,864 parameters unscaled."""
    inputs = _input(resolution)
    x = layers.Conv2D(round_filters(32, width), 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.ReLU(6.0, name="conv1_relu")(_bn("conv1_bn")(x))
    block = 0
    for filters, stride, blocks in MOBILENETV1_STAGES:
        for j in range(round_repeats(blocks, depth)):
            block += 1
            x = _separable(x, round_filters(filters, width), stride if j == 0 else 1, block)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(1e-3, name="dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = layers.Activation("softmax", name="predictions")(layers.Reshape((classes,), name="reshape_2")(x))
    return keras.Model(inputs, x, name=name or f"mobilenetv1_d{depth:.3g}_w{width:.3g}_r{resolution}")


def _conv_bn(x, filters: int, kernel: int, name: str, strides: int = 1, padding: str = "valid"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, name=f"{name}_conv")(x)
    return _bn(f"{name}_bn", RESNET_BN_EPSILON)(x)


def _bottleneck(x, filters: int, stride: int, projection: bool, name: str, width: float):
    """keras.applications' ResNet v1 block: 1x1 (strided), 3x3, 1x1 to 4x the filters, plus the shortcut."""
    inner, out = round_filters(filters, width), round_filters(4 * filters, width)
    shortcut = _conv_bn(x, out, 1, f"{name}_0", strides=stride) if projection else x
    x = layers.Activation("relu", name=f"{name}_1_relu")(_conv_bn(x, inner, 1, f"{name}_1", strides=stride))
    x = layers.Activation("relu", name=f"{name}_2_relu")(_conv_bn(x, inner, 3, f"{name}_2", padding="same"))
    x = layers.Add(name=f"{name}_add")([shortcut, _conv_bn(x, out, 1, f"{name}_3")])
    return layers.Activation("relu", name=f"{name}_out")(x)


def ResNet50(width: float = 1.0, depth: float = 1.0, resolution: int = 224, *, include_top: bool = True,
             classes: int = 1000, name: Optional[str] = None) -> keras.Model:
    """ResNet-50 v1 (He et al., 2016) at any width, depth and resolution: 25,636,712 parameters unscaled."""
    inputs = _input(resolution)
    x = _conv_bn(layers.ZeroPadding2D(3, name="conv1_pad")(inputs), round_filters(64, width), 7, "conv1", strides=2)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(layers.Activation("relu", name="conv1_relu")(x))
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, stride, blocks) in enumerate(RESNET50_STAGES, 2):
        for j in range(round_repeats(blocks, depth)):
            x = _bottleneck(x, filters, stride if j == 0 else 1, j == 0, f"conv{stage}_block{j + 1}", width)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name or f"resnet50_d{depth:.3g}_w{width:.3g}_r{resolution}")
