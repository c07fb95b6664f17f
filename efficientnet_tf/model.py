"""Functional EfficientNet builders with keras.applications' signature, layer names and counts."""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence, Union

import keras
from keras import layers

from efficientnet_tf.block_args import DEFAULT_BLOCKS_ARGS, BlockArgs, as_block_args
from efficientnet_tf.blocks import CONV_KERNEL_INITIALIZER, DENSE_KERNEL_INITIALIZER, batch_norm, correct_pad, mbconv_block
from efficientnet_tf.layers import ImageNormalization
from efficientnet_tf.variants import VARIANTS, get_variant
from efficientnet_tf.weights import load_weights

MIN_SIZE = 32


def round_filters(filters: float, width_coefficient: float, depth_divisor: int = 8) -> int:
    """Scales by width, rounds to the nearest multiple of the divisor, never losing more than 10%."""
    filters *= width_coefficient
    new = max(depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
    if new < 0.9 * filters:
        new += depth_divisor
    return int(new)


DEPTH_ROUNDING = ("ceil", "nearest")


def round_repeats(repeats: int, depth_coefficient: float, rounding: str = "ceil") -> int:
    """The reference rounds up ("ceil"); "nearest" keeps compound scaling's MACs on alpha*beta^2*gamma^2."""
    if rounding not in DEPTH_ROUNDING:
        raise ValueError(f"depth_rounding must be one of {DEPTH_ROUNDING}, got {rounding!r}")
    scaled = depth_coefficient * repeats
    return max(1, int(math.ceil(scaled) if rounding == "ceil" else math.floor(scaled + 0.5)))


def _input_shape(input_shape, input_tensor, default_size, include_top):
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = (default_size, default_size, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {input_shape}")
    if input_shape[-1] != 3:
        raise ValueError(f"input_shape must have 3 (RGB) channels, got {input_shape[-1]} in {input_shape}")
    for d in input_shape[:2]:
        if d is not None and d < MIN_SIZE:
            raise ValueError(f"input height and width must be at least {MIN_SIZE}, got {input_shape}")
    return input_shape


def _inputs(input_shape, input_tensor):
    if input_tensor is None:
        return layers.Input(shape=input_shape, name="input_layer"), None
    if not keras.backend.is_keras_tensor(input_tensor):
        x = layers.Input(tensor=input_tensor, shape=input_shape)
        return x, x
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def EfficientNet(
    width_coefficient: float,
    depth_coefficient: float,
    default_size: int,
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.2,
    depth_divisor: int = 8,
    activation: Union[str, Callable] = "swish",
    blocks_args: Sequence[Union[str, BlockArgs]] = DEFAULT_BLOCKS_ARGS,
    name: str = "efficientnet",
    include_top: bool = True,
    weights: Optional[str] = None,
    input_tensor=None,
    input_shape=None,
    pooling: Optional[str] = None,
    classes: int = 1000,
    classifier_activation: Union[str, Callable, None] = "softmax",
    include_preprocessing: bool = True,
    weights_name: Optional[str] = None,
    stem_filters: int = 32,
    head_filters: int = 1280,
    depth_rounding: str = "ceil",
) -> keras.Model:
    """Builds an EfficientNet from block arguments and compound-scaling coefficients.

    Inputs are 0-255 RGB when ``include_preprocessing`` (the default); the model normalizes them
    with the ImageNet mean and std itself. ``weights`` is None, ``"imagenet"`` (a local
    keras.applications file, never downloaded), a keras.applications ``.h5`` path (loaded by layer
    name) or a Keras ``.weights.h5``/``.keras`` file. ``weights_name`` is the keras.applications
    file stem (``efficientnetb0``) that ``"imagenet"`` looks for. ``stem_filters`` and
    ``head_filters`` (before width scaling) let other families, e.g. MobileNetV2, share the builder.
    ``depth_rounding`` is the reference's "ceil" for repeats, or "nearest" (see ``scaling``).
    """
    blocks = as_block_args(blocks_args)
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if include_top and int(classes) < 1:
        raise ValueError(f"classes must be >= 1, got {classes}")
    if not 0.0 <= dropout_rate < 1.0 or not 0.0 <= drop_connect_rate < 1.0:
        raise ValueError(f"dropout_rate and drop_connect_rate must be in [0, 1), got {dropout_rate}, {drop_connect_rate}")
    for b in blocks:
        if b.strides[0] != b.strides[1]:
            raise ValueError(f"only square strides are supported, got {b.strides} in {b}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"weights='imagenet' with include_top=True needs classes=1000, got {classes}")

    input_shape = _input_shape(input_shape, input_tensor, default_size, include_top)
    img_input, source_inputs = _inputs(input_shape, input_tensor)

    def filters(f):
        return round_filters(f, width_coefficient, depth_divisor)

    x = img_input
    if include_preprocessing:
        x = ImageNormalization(name="normalization")(x)
    x = layers.ZeroPadding2D(correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(
        filters(stem_filters), 3, strides=2, padding="valid", use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv",
    )(x)
    x = batch_norm("stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    repeats = [round_repeats(b.num_repeat, depth_coefficient, depth_rounding) for b in blocks]
    total = float(sum(repeats))
    index = 0
    for stage, (b, repeat) in enumerate(zip(blocks, repeats)):
        filters_in, filters_out = filters(b.input_filters), filters(b.output_filters)
        for j in range(repeat):
            x = mbconv_block(
                x,
                name=f"block{stage + 1}{chr(ord('a') + j)}_",
                filters_in=filters_in if j == 0 else filters_out,
                filters_out=filters_out,
                kernel_size=b.kernel_size,
                strides=b.strides[0] if j == 0 else 1,
                expand_ratio=b.expand_ratio,
                se_ratio=b.se_ratio,
                id_skip=b.id_skip,
                drop_rate=drop_connect_rate * index / total,
                activation=activation,
            )
            index += 1

    x = layers.Conv2D(
        filters(head_filters), 1, padding="same", use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER, name="top_conv",
    )(x)
    x = batch_norm("top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        # float32 head: probabilities stay float32 under mixed precision policies.
        x = layers.Dense(
            classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
            bias_initializer="zeros", dtype="float32", name="predictions",
        )(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    model = keras.Model(source_inputs if source_inputs is not None else img_input, x, name=name)
    if weights is not None:
        load_weights(model, weights, weights_name=weights_name or name)
    return model


def _variant_builder(key: str):
    v = VARIANTS[key]

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        include_preprocessing=True,
        name=v.keras_name,
        **kwargs,
    ):
        kwargs.setdefault("dropout_rate", v.dropout)
        return EfficientNet(
            v.width, v.depth, v.resolution,
            name=name, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation, include_preprocessing=include_preprocessing,
            weights_name=v.keras_name, **kwargs,
        )

    builder.__name__ = builder.__qualname__ = f"EfficientNet{key.upper()}"
    builder.__doc__ = (
        f"EfficientNet-{key.upper()}: width {v.width}, depth {v.depth}, {v.resolution} px, dropout {v.dropout}. "
        "Arguments as keras.applications; extra keywords go to `EfficientNet`."
    )
    return builder


MODELS: Dict[str, Callable[..., keras.Model]] = {k: _variant_builder(k) for k in VARIANTS}
EfficientNetB0 = MODELS["b0"]
EfficientNetB1 = MODELS["b1"]
EfficientNetB2 = MODELS["b2"]
EfficientNetB3 = MODELS["b3"]
EfficientNetB4 = MODELS["b4"]
EfficientNetB5 = MODELS["b5"]
EfficientNetB6 = MODELS["b6"]
EfficientNetB7 = MODELS["b7"]


def create_model(name: str, **kwargs) -> keras.Model:
    """Builds a registered variant by name (``b0``, ``efficientnet-b0``, ``EfficientNetB0`` ...)."""
    return MODELS[get_variant(name).name](**kwargs)


_FEATURE_LEVELS = ("reduction_1", "reduction_2", "reduction_3", "reduction_4", "reduction_5")


def feature_extractor(model: keras.Model) -> keras.Model:
    """Multi-scale endpoints at strides 2, 4, 8, 16, 32 for detection and segmentation heads.

    Each endpoint is the last block output at its resolution (the reference's ``reduction_i``);
    stride 32 is ``top_activation``. Works on any model from this package, top or not.
    """
    ends = [l for l in model.layers if l.name.endswith(("_add", "_project_bn")) or l.name == "top_activation"]
    by_stride, last_block = {}, {}
    for l in ends:
        block = l.name.split("_")[0]
        last_block[block] = l  # a block's "_add" comes after its "_project_bn"
    in_size = model.inputs[0].shape[1]
    for l in list(last_block.values()):
        h = l.output.shape[1]
        stride = 2 ** round(math.log2(in_size / h)) if in_size and h else None
        by_stride[stride] = l.output
    strides = (2, 4, 8, 16, 32)
    if in_size is None or any(s not in by_stride for s in strides):
        raise ValueError("feature_extractor needs a model with a static input size of at least 32 px")
    outputs = {level: by_stride[s] for level, s in zip(_FEATURE_LEVELS, strides)}
    return keras.Model(model.input, outputs, name=model.name + "_features")
