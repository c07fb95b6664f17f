"""The MBConv and fused MBConv blocks, with keras.applications' layer names so weights port by name."""
from __future__ import annotations

import dataclasses

from keras import layers

from efficientnet_tf.models.layers import StochasticDepth, channel_axis

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
# How stride-2 convs pad: TF's "same" (the reference, tf_* ports) or PyTorch's k // 2 on every side
# (timm's own weights); at stride 1 the two agree for odd kernels, so only stride-2 layers differ.
PADDINGS = ("same", "symmetric")


@dataclasses.dataclass(frozen=True)
class Family:
    """Where EfficientNetV1 and V2 differ in how they are built, beyond their block strings.

    keras.applications' V1 pads every stride-2 conv with a ZeroPadding2D layer (``dwconv_pad``) and
    names the depthwise conv ``dwconv``; its V2 lets each conv pad "same" itself and names it
    ``dwconv2``: kept, so that each family's h5 files load by name. V1's filter rounding never loses
    more than 10% of the scaled width; V2's (google/automl) has no such rule, and V2-B3 differs by it.
    keras' V1 keeps the input statistics as weights, its V2 as constants (parameter counts differ by 7).
    """

    dwconv: str = "dwconv"
    pad_layers: bool = True
    round_up_lost_10pct: bool = True
    stats_as_weights: bool = True


FAMILIES = {"v1": Family(), "v2": Family("dwconv2", False, False, False)}


def batch_norm(name, data_format="channels_last", epsilon=BN_EPSILON):
    return layers.BatchNormalization(
        axis=channel_axis(data_format), momentum=BN_MOMENTUM, epsilon=epsilon, name=name
    )


def conv(filters, kernel_size, name, data_format, strides=1, padding="same", **kwargs):
    """A bias-free convolution with the reference's initializer (biases only where asked)."""
    kwargs.setdefault("use_bias", False)
    return layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
        kernel_initializer=CONV_KERNEL_INITIALIZER, name=name, **kwargs,
    )


def correct_pad(x, kernel_size, data_format="channels_last"):
    """Padding that makes a stride-2 "valid" conv match TF's "same" one (keras.applications' rule).

    An unknown size pads like an even one, as keras does.
    """
    size = x.shape[2:4] if data_format == "channels_first" else x.shape[1:3]
    adjust = (1, 1) if size[0] is None or size[1] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def stride2_padding(x, kernel_size, name, data_format="channels_last", padding="same"):
    """The ZeroPadding2D before a stride-2 "valid" conv: TF's "same" amounts, or k // 2 on every side."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    half = kernel_size // 2
    amounts = correct_pad(x, kernel_size, data_format) if padding == "same" else ((half, half), (half, half))
    return layers.ZeroPadding2D(amounts, data_format=data_format, name=name)(x)


def pad_for(x, kernel_size, strides, name, data_format, padding, family: Family):
    """(x, the conv's own padding): stride-2 convs pad through a ZeroPadding2D layer, unless the
    family lets a "same" conv pad itself."""
    if strides == 1 or (padding == "same" and not family.pad_layers):
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        return x, "same"
    return stride2_padding(x, kernel_size, name, data_format, padding), "valid"


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
    data_format="channels_last",
    padding="same",
    bn_epsilon=BN_EPSILON,
    family: Family = FAMILIES["v1"],
):
    """Expand 1x1, depthwise kxk, squeeze-excite, project 1x1, then the stochastic-depth residual.

    ``filters_in`` is the reference's (width-scaled) input width, which sets the expansion and SE
    widths; the depthwise conv runs on whatever ``inputs`` carries (EfficientNet-Lite's fixed stem).
    ``padding`` and ``bn_epsilon`` are the weights' conventions (``PADDINGS``), ``family`` the family's layer names.
    """
    x = inputs
    if expand_ratio != 1:
        x = conv(int(filters_in * expand_ratio), 1, name + "expand_conv", data_format)(x)
        x = batch_norm(name + "expand_bn", data_format, bn_epsilon)(x)
        x = layers.Activation(activation, name=name + "expand_activation")(x)

    x, pad = pad_for(x, kernel_size, strides, name + "dwconv_pad", data_format, padding, family)
    x = layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding=pad, use_bias=False,
        depthwise_initializer=CONV_KERNEL_INITIALIZER, data_format=data_format, name=name + family.dwconv,
    )(x)
    x = batch_norm(name + "bn", data_format, bn_epsilon)(x)
    x = layers.Activation(activation, name=name + "activation")(x)
    if se_ratio:
        x = _squeeze_excite(x, max(1, int(filters_in * se_ratio)), name, activation, data_format)

    x = conv(filters_out, 1, name + "project_conv", data_format)(x)
    x = batch_norm(name + "project_bn", data_format, bn_epsilon)(x)
    return _residual(x, inputs, name, id_skip and strides == 1 and filters_in == filters_out, drop_rate)


def fused_mbconv_block(inputs, *, name, filters_in, filters_out, kernel_size, strides, expand_ratio, se_ratio,
                       id_skip, drop_rate, activation, data_format="channels_last", padding="same",
                       bn_epsilon=BN_EPSILON, family: Family = FAMILIES["v2"]):
    """EfficientNetV2's fused MBConv: one kxk conv does the expand and the depthwise conv's work.

    With ``expand_ratio`` 1 the block is a single kxk conv (``project_conv``, then its activation).
    Arguments as ``mbconv_block``.
    """
    x = inputs
    if expand_ratio != 1:
        x, pad = pad_for(x, kernel_size, strides, name + "expand_pad", data_format, padding, family)
        x = conv(int(filters_in * expand_ratio), kernel_size, name + "expand_conv", data_format,
                 strides=strides, padding=pad)(x)
        x = batch_norm(name + "expand_bn", data_format, bn_epsilon)(x)
        x = layers.Activation(activation, name=name + "expand_activation")(x)
    if se_ratio:
        x = _squeeze_excite(x, max(1, int(filters_in * se_ratio)), name, activation, data_format)

    single = expand_ratio == 1
    x, pad = pad_for(x, kernel_size, strides if single else 1, name + "project_pad", data_format, padding, family)
    x = conv(filters_out, kernel_size if single else 1, name + "project_conv", data_format,
             strides=strides if single else 1, padding=pad)(x)
    x = batch_norm(name + "project_bn", data_format, bn_epsilon)(x)
    if single:
        x = layers.Activation(activation, name=name + "project_activation")(x)
    return _residual(x, inputs, name, id_skip and strides == 1 and filters_in == filters_out, drop_rate)


def _residual(x, inputs, name, skip, drop_rate):
    """The identity skip, with stochastic depth, where shapes allow it."""
    if skip:
        if drop_rate > 0:
            x = StochasticDepth(drop_rate, name=name + "drop")(x)
        x = layers.Add(name=name + "add")([x, inputs])
    return x


def _squeeze_excite(x, filters_se, name, activation, data_format):
    filters = x.shape[channel_axis(data_format)]
    se = layers.GlobalAveragePooling2D(data_format=data_format, name=name + "se_squeeze")(x)
    shape = (filters, 1, 1) if data_format == "channels_first" else (1, 1, filters)
    se = layers.Reshape(shape, name=name + "se_reshape")(se)
    se = conv(filters_se, 1, name + "se_reduce", data_format, activation=activation, use_bias=True)(se)
    se = conv(filters, 1, name + "se_expand", data_format, activation="sigmoid", use_bias=True)(se)
    return layers.Multiply(name=name + "se_excite")([x, se])
