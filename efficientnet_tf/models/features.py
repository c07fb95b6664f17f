"""Stage endpoints of a built model (timm's ``feature_info``, keras-hub's ``pyramid_outputs``).

They are read from the layer names the builder gives (``builder``) and the strides in the layers'
configs, never guessed from shape ratios, so they hold for dynamic input sizes, after a ``.keras``
reload, in either data format, and for models built on an ``input_tensor`` (strides count from the
model's own input).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Tuple

import keras

_BLOCK_END = re.compile(r"^block(\d+)[a-z]+_(add|project_bn|project_activation)$")
STEM, HEAD = "stem_activation", "top_activation"
LEVELS = ("reduction_1", "reduction_2", "reduction_3", "reduction_4", "reduction_5")
LEVEL_STRIDES = (2, 4, 8, 16, 32)


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """One endpoint: the layer whose output it is, its stride from the input, its channels, and the
    input pixel (rows, columns) on which its cell (0, 0)'s receptive field is centred: cell i sits at
    ``stride * i + offset``."""

    name: str
    stride: int
    channels: int
    offset: Tuple[float, float] = (0.0, 0.0)


def _strides(layer) -> int:
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        if layer.strides[0] != layer.strides[1]:
            raise ValueError(f"{layer.name}: feature_info needs square strides, got {layer.strides}")
        return layer.strides[0]
    return 1


def _shift(layer, stride: int) -> Tuple[float, float]:
    """How far ``layer`` moves the receptive-field centres, in input pixels. The offset is not the
    nominal ``(stride - 1) / 2``: keras' ``correct_pad`` pads a stride-2 layer one pixel less before
    than after on even sizes (as TF's "same" does), which moves the fields half its input stride down
    and right; at stride 32 that adds up to 15.5 px, half a cell. A strided "same" conv (V2) pads
    itself by the same rule."""
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return tuple(-stride * before for before, _ in layer.padding)
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        if layer.padding == "valid":
            return tuple(stride * (k - 1) / 2 for k in layer.kernel_size)
        if max(layer.strides) > 1:  # "same" at stride 1 with an odd kernel is centred
            return tuple(stride * ((k - 1) / 2 - before) for k, before in zip(layer.kernel_size, _same_before(layer)))
    return (0.0, 0.0)


def _same_before(layer) -> Tuple[int, int]:
    """TF's "same" padding before the input, per axis: half (rounded down) of ``k - (n mod s or s)``;
    an unknown size counts as a multiple of the stride, as keras' ``correct_pad`` assumes."""
    shape = layer.input.shape
    sizes = shape[2:4] if layer.data_format == "channels_first" else shape[1:3]
    return tuple(max(k - ((n or 0) % s or s), 0) // 2 for k, s, n in zip(layer.kernel_size, layer.strides, sizes))


def feature_info(model: keras.Model) -> Tuple[FeatureInfo, ...]:
    """The stem, the last block of every stage, and the head (if built), in order."""
    try:
        data_format = model.get_layer("stem_conv").data_format
    except ValueError:
        raise ValueError(f"model {model.name!r} has no 'stem_conv' layer: not an EfficientNet from this package") from None
    axis = 1 if data_format == "channels_first" else -1
    stride, offset, ends = 1, (0.0, 0.0), {}
    for layer in model.layers:  # topological order; the network is a chain of stride changes
        offset = tuple(o + d for o, d in zip(offset, _shift(layer, stride)))
        stride *= _strides(layer)
        match = _BLOCK_END.match(layer.name)
        if layer.name in (STEM, HEAD) or match:
            key = f"block{match.group(1)}" if match else layer.name  # a block's "_add" follows its "_project_bn"
            ends[key] = FeatureInfo(layer.name, stride, int(layer.output.shape[axis]), offset)
    return tuple(ends.values())


def feature_extractor(model: keras.Model) -> keras.Model:
    """Multi-scale endpoints ``reduction_1`` ... ``reduction_5`` at strides 2, 4, 8, 16, 32.

    Each is the last endpoint at its stride (the reference's ``reduction_i``); stride 32 is
    ``top_activation``. Works on any model from this package, top or not, any input size (at least
    32 px). The returned model's ``feature_info`` gives each level's layer, stride and channels.
    """
    by_stride = {info.stride: info for info in feature_info(model)}
    missing = [s for s in LEVEL_STRIDES if s not in by_stride]
    if missing:
        raise ValueError(f"model {model.name!r} has no endpoint at stride(s) {missing}; found {sorted(by_stride)}")
    infos = {level: by_stride[s] for level, s in zip(LEVELS, LEVEL_STRIDES)}
    outputs = {level: model.get_layer(info.name).output for level, info in infos.items()}
    extractor = keras.Model(model.input, outputs, name=model.name + "_features")
    extractor.feature_info = infos
    return extractor
