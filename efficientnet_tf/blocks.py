"""The MBConv block, with keras.applications' layer names so weights port by name."""
from __future__ import annotations

from keras import layers

from efficientnet_tf.layers import StochasticDepth

# The reference's initializers (keras.applications uses the truncated normal for convs too).
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


def batch_norm(name):
    return layers.BatchNormalization(axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def correct_pad(x, kernel_size):
    """Padding that makes a stride-2 "valid" conv match TF's "same" one (keras.applications' rule)."""
    size = x.shape[1:3]
    adjust = (1, 1) if size[0] is None or size[1] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def mbconv_block(
    inputs,
    *,
    name,
    filters_in,
    filters_out,
    kernel_size,
    strides,
    expand_ratio,
    se_ratio,
    id_skip,
    drop_rate,
    activation,
):
    """Expand 1x1, depthwise kxk, squeeze-excite, project 1x1, then the stochastic-depth residual."""
    filters = int(filters_in * expand_ratio)
    x = inputs
    if expand_ratio != 1:
        x = layers.Conv2D(
            filters, 1, padding="same", use_bias=False,
            kernel_initializer=CONV_KERNEL_INITIALIZER, name=name + "expand_conv",
        )(x)
        x = batch_norm(name + "expand_bn")(x)
        x = layers.Activation(activation, name=name + "expand_activation")(x)

    if strides == 2:
        x = layers.ZeroPadding2D(correct_pad(x, kernel_size), name=name + "dwconv_pad")(x)
    x = layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding="valid" if strides == 2 else "same", use_bias=False,
        depthwise_initializer=CONV_KERNEL_INITIALIZER, name=name + "dwconv",
    )(x)
    x = batch_norm(name + "bn")(x)
    x = layers.Activation(activation, name=name + "activation")(x)

    if se_ratio:
        filters_se = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(name=name + "se_squeeze")(x)
        se = layers.Reshape((1, 1, filters), name=name + "se_reshape")(se)
        se = layers.Conv2D(
            filters_se, 1, padding="same", activation=activation,
            kernel_initializer=CONV_KERNEL_INITIALIZER, name=name + "se_reduce",
        )(se)
        se = layers.Conv2D(
            filters, 1, padding="same", activation="sigmoid",
            kernel_initializer=CONV_KERNEL_INITIALIZER, name=name + "se_expand",
        )(se)
        x = layers.Multiply(name=name + "se_excite")([x, se])

    x = layers.Conv2D(
        filters_out, 1, padding="same", use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER, name=name + "project_conv",
    )(x)
    x = batch_norm(name + "project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = StochasticDepth(drop_rate, name=name + "drop")(x)
        x = layers.Add(name=name + "add")([x, inputs])
    return x

