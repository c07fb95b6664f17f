"""Functional EfficientNet builders with keras.applications' signature, layer names and counts."""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Dict, Optional, Sequence, Union

import keras
from keras import layers

from efficientnet_tf.models.block_args import DEFAULT_BLOCKS_ARGS, BlockArgs, as_block_args, decode
from efficientnet_tf.models.blocks import BN_EPSILON, DENSE_KERNEL_INITIALIZER, FAMILIES
from efficientnet_tf.models.builder import DEPTH_ROUNDING, head, round_filters, round_repeats, stage_repeats, stages, stem
from efficientnet_tf.models.layers import NORMALIZATIONS, Dropout, ImageNormalization
from efficientnet_tf.models.variants import VARIANTS, get_variant
from efficientnet_tf.weights.loading import load_weights
from efficientnet_tf.weights import hub, presets
from efficientnet_tf.weights.sources import builder_options, required_options

__all__ = [
    "DEPTH_ROUNDING", "LITE_ARCHITECTURE", "MIN_SIZE", "MODELS", "EfficientNet", "create_model", "round_filters",
    "round_repeats",
]
MIN_SIZE = 32


def _input_shape(input_shape, input_tensor, default_size, include_top, data_format):
    """(C, H, W) or (H, W, C) as ``data_format`` says; any channel count C >= 1."""
    first = data_format == "channels_first"
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        size = default_size if include_top else None
        input_shape = (3, size, size) if first else (size, size, 3)
    input_shape = tuple(input_shape)
    layout = "(channels, height, width)" if first else "(height, width, channels)"
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be {layout} ({data_format}), got {input_shape}")
    channels, spatial = (input_shape[0], input_shape[1:]) if first else (input_shape[-1], input_shape[:2])
    if channels is None or int(channels) < 1:
        raise ValueError(f"input_shape must be {layout} with a known channel count >= 1, got {input_shape}")
    for d in spatial:
        if d is not None and d < MIN_SIZE:
            raise ValueError(f"input height and width must be at least {MIN_SIZE}, got {input_shape} ({data_format})")
    return input_shape


def _inputs(input_shape, input_tensor):
    if input_tensor is None:
        return layers.Input(shape=input_shape, name="input_layer"), None
    if not keras.backend.is_keras_tensor(input_tensor):
        x = layers.Input(tensor=input_tensor, shape=input_shape)
        return x, x
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def _check_args(blocks, pooling, include_top, classes, dropout_rate, drop_connect_rate, weights, normalization,
                bn_epsilon, family):
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if include_top and int(classes) < 1:
        raise ValueError(f"classes must be >= 1, got {classes}")
    if not 0.0 <= dropout_rate < 1.0 or not 0.0 <= drop_connect_rate < 1.0:
        raise ValueError(f"dropout_rate and drop_connect_rate must be in [0, 1), got {dropout_rate}, {drop_connect_rate}")
    for b in blocks:
        if not isinstance(b.strides, int) and b.strides[0] != b.strides[1]:
            raise ValueError(f"only square strides are supported, got {b.strides} in {b}")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {family!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"weights='imagenet' with include_top=True needs classes=1000, got {classes}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if not bn_epsilon > 0:  # padding is checked where it is used (blocks.stride2_padding)
        raise ValueError(f"bn_epsilon must be > 0, got {bn_epsilon}")


def _check_named_weights(weights, variant_name: str, built: Dict[str, object]) -> str:
    """A named weight set (tag or hf://) called through ``EfficientNet`` itself, which the variant
    builders' defaults do not reach: the options it was trained with must be the ones given.
    Returns the file stem the weights are looked up by (``efficientnetb0`` for ``efficientnet-b0``)."""
    if not (presets.is_tag(weights) or hub.is_hub(weights)):
        return variant_name
    try:
        variant = get_variant(variant_name).name
    except ValueError:
        raise ValueError(f"weights={weights!r} needs a known variant; {variant_name!r} is none: build it with "
                         "create_model(NAME, weights=...) or EfficientNetB0(weights=...) and the like") from None
    required = {k: v for k, v in required_options(weights, variant).items() if k in built}
    clash = {k: (built[k], v) for k, v in required.items() if built[k] != v}
    if clash:
        k, (got, want) = next(iter(clash.items()))
        raise ValueError(f"weights={weights!r} for {variant} needs {k}={want!r}, got {k}={got!r}; "
                         "the variant builders (EfficientNetB0(weights=...) and the like) set it")
    return VARIANTS[variant].keras_name


def _top(x, include_top, pooling, classes, dropout_rate, classifier_activation, data_format):
    if include_top:
        x = layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        # float32 head: probabilities stay float32 under mixed precision policies.
        return layers.Dense(
            classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
            bias_initializer="zeros", dtype="float32", name="predictions",
        )(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(data_format=data_format, name="max_pool")(x)
    return x


@contextlib.contextmanager
def _recursion_limit(limit: int):
    """Keras walks a functional graph recursively, a few frames per layer: V2-XL's 100 blocks (about
    1,200 layers) exceed Python's default limit of 1,000."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


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
    normalization: str = "imagenet",
    use_se: bool = True,
    fix_stem_head: bool = False,
    ema: bool = True,
    padding: str = "same",
    bn_epsilon: float = BN_EPSILON,
    family: str = "v1",
) -> keras.Model:
    """Builds an EfficientNet from block arguments and compound-scaling coefficients.

    Inputs are 0-255 images, laid out as ``keras.config.image_data_format()`` says (channels_first
    is for GPUs: TF has no NCHW convolutions on CPU), with any channel count. With
    ``include_preprocessing`` (the default) the model normalizes them itself: ``normalization`` is
    "imagenet" (mean/std), "advprop" ((x - 127.5) / 127.5) or "lite" ((x - 127) / 128), the scaling
    each family of published weights was trained with (``layers.ImageNormalization``). ``weights``
    is None, a preset tag such as ``"imagenet"`` or ``"noisy-student"`` (``weights.presets``; downloaded once into a cache), a
    keras.applications ``.h5`` path (loaded by layer name) or a Keras ``.weights.h5``/``.keras``
    file, or an official tensorflow/tpu checkpoint (folder or ``model.ckpt`` prefix), whose EMA
    values are taken when present unless ``ema=False``; ``weights_name`` is the file stem
    (``efficientnetb0``) ``"imagenet"`` looks for. A PyTorch state dict (``.safetensors``, ``.pth``,
    ``.bin``) in timm's or EfficientNet-PyTorch's naming, or ``"hf://timm/NAME"``, loads too.
    ``stem_filters``/``head_filters`` (before width scaling) let other families, e.g. MobileNetV2,
    share the builder. ``depth_rounding`` is the reference's "ceil" for repeats, or "nearest" (see
    ``scaling``). ``use_se=False`` drops squeeze-excite and ``fix_stem_head=True`` keeps the stem,
    the head and the first and last stages' repeats unscaled: EfficientNet-Lite. ``padding="symmetric"``
    (k // 2 on every side of stride-2 convs) and ``bn_epsilon=1e-5`` are PyTorch's conventions, which
    timm's own (not ``tf_``) weights were trained with; the defaults are TF's. ``family="v2"`` builds
    as EfficientNetV2 does (``blocks.Family``); fused stages come from ``c1`` in the block strings.
    """
    blocks = as_block_args(blocks_args)
    _check_args(blocks, pooling, include_top, classes, dropout_rate, drop_connect_rate, weights, normalization,
                bn_epsilon, family)
    weights_name = _check_named_weights(weights, weights_name or name,
                                        {"normalization": normalization, "padding": padding, "bn_epsilon": bn_epsilon})
    data_format = keras.config.image_data_format()
    input_shape = _input_shape(input_shape, input_tensor, default_size, include_top, data_format)
    img_input, source_inputs = _inputs(input_shape, input_tensor)

    built_as = FAMILIES[family]

    def filters(f, fixed=False):
        return f if fixed else round_filters(f, width_coefficient, depth_divisor, built_as.round_up_lost_10pct)

    x = img_input
    if include_preprocessing:
        x = ImageNormalization(normalization, data_format=data_format, as_weights=built_as.stats_as_weights,
                               name="normalization")(x)
    x = stem(x, filters(stem_filters, fix_stem_head), activation, data_format, padding, bn_epsilon, built_as)
    repeats = stage_repeats(blocks, depth_coefficient, depth_rounding, fix_stem_head)
    x = stages(
        x, blocks, repeats, filters, drop_connect_rate=drop_connect_rate, activation=activation,
        use_se=use_se, data_format=data_format, padding=padding, bn_epsilon=bn_epsilon, family=built_as,
    )
    x = head(x, filters(head_filters, fix_stem_head), activation, data_format, bn_epsilon)
    x = _top(x, include_top, pooling, classes, dropout_rate, classifier_activation, data_format)
    with _recursion_limit(20 * sum(repeats)):
        model = keras.Model(source_inputs if source_inputs is not None else img_input, x, name=name)
    if weights is not None:
        load_weights(model, weights, weights_name=weights_name, ema=ema)
    return model


# EfficientNet-Lite (tensorflow/tpu lite/efficientnet_lite_builder.py): friendlier to int8 on phones.
LITE_ARCHITECTURE = {"activation": "relu6", "use_se": False, "fix_stem_head": True, "normalization": "lite"}


def _family_architecture(v) -> Dict[str, object]:
    """The builder arguments a variant's family fixes (block strings and widths for V2)."""
    if v.family == "v2":
        return {"family": "v2", "blocks_args": v.blocks, "normalization": v.normalization,
                "stem_filters": decode(v.blocks[0]).input_filters}
    return LITE_ARCHITECTURE if v.lite else {}


def _title(v) -> str:
    """``B0``, ``Lite0``, ``V2S``: the builder's name after ``EfficientNet``."""
    return v.name.capitalize() if v.lite else v.name.replace("-", "").upper()


def _variant_builder(key: str):
    v = VARIANTS[key]

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=None,
        classifier_activation="softmax",
        include_preprocessing=True,
        name=v.keras_name,
        **kwargs,
    ):
        kwargs.setdefault("dropout_rate", v.dropout)
        kwargs = builder_options(weights, v.name, {**kwargs, **({} if classes is None else {"classes": classes})})
        classes = kwargs.pop("classes", 1000)  # 1000 unless the weights have another count (ImageNet-21k)
        for arg, value in _family_architecture(v).items():
            kwargs.setdefault(arg, value)
        return EfficientNet(
            v.width, v.depth, kwargs.pop("default_size", v.resolution),
            name=name, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation, include_preprocessing=include_preprocessing,
            weights_name=v.keras_name, **kwargs,
        )

    title = _title(v)
    builder.__name__ = builder.__qualname__ = f"EfficientNet{title}"
    builder.__doc__ = (
        f"EfficientNet-{title}: width {v.width}, depth {v.depth}, {v.resolution} px, dropout {v.dropout}. "
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
EfficientNetB8 = MODELS["b8"]
EfficientNetL2 = MODELS["l2"]
EfficientNetLite0 = MODELS["lite0"]
EfficientNetLite1 = MODELS["lite1"]
EfficientNetLite2 = MODELS["lite2"]
EfficientNetLite3 = MODELS["lite3"]
EfficientNetLite4 = MODELS["lite4"]
EfficientNetV2B0 = MODELS["v2-b0"]
EfficientNetV2B1 = MODELS["v2-b1"]
EfficientNetV2B2 = MODELS["v2-b2"]
EfficientNetV2B3 = MODELS["v2-b3"]
EfficientNetV2S = MODELS["v2-s"]
EfficientNetV2M = MODELS["v2-m"]
EfficientNetV2L = MODELS["v2-l"]
EfficientNetV2XL = MODELS["v2-xl"]


def create_model(name: str, **kwargs) -> keras.Model:
    """Builds a registered variant by name (``b0``, ``efficientnet-b0``, ``EfficientNetLite0`` ...)."""
    return MODELS[get_variant(name).name](**kwargs)
