"""Where each weighted layer of a built EfficientNet sits, as every foreign weight format numbers it.

keras.applications names block layers ``block{stage}{letter}_{role}`` (``block2b_expand_conv``); the
official checkpoints number blocks flat over the model (``blocks_4``), timm by stage and index
(``blocks.1.1``), EfficientNet-PyTorch flat again (``_blocks.4``); inside a block, the names of
timm and the checkpoints also depend on whether it has an expand conv, and on whether it is fused. :func:`weighted_layers`
walks a model once and gives each loader all of that, so the loaders keep only their name tables.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterator, Optional, Tuple

import keras

from efficientnet_tf.weights.fitting import FIXED_LAYERS

_BLOCK_LAYER = re.compile(r"^block(\d+)([a-z])_(.+)$")


@dataclasses.dataclass(frozen=True)
class Place:
    """A stem or head layer (``role`` is its name, ``block`` None) or a block's part ``role``."""

    role: str
    block: Optional[str] = None  # "block2b"
    stage: int = 0  # 0-based stage
    index: int = 0  # 0-based block within its stage
    flat: int = 0  # 0-based block over the model
    expands: bool = False  # the block has an expand conv
    fused: bool = False  # a fused MBConv (EfficientNetV2): no depthwise conv


def weighted_layers(model: keras.Model) -> Iterator[Tuple[keras.layers.Layer, Place]]:
    """(layer, place) for every layer with weights that a file must provide, in model order."""
    names = {layer.name for layer in model.layers}
    blocks = []
    for layer in model.layers:
        if not layer.weights or layer.name in FIXED_LAYERS:
            continue
        match = _BLOCK_LAYER.match(layer.name)
        if not match:
            yield layer, Place(layer.name)
            continue
        stage, letter, role = match.groups()
        block = f"block{stage}{letter}"
        if block not in blocks:
            blocks.append(block)
        yield layer, Place(role, block, int(stage) - 1, ord(letter) - ord("a"), blocks.index(block),
                           f"{block}_expand_conv" in names,
                           not names & {f"{block}_dwconv", f"{block}_dwconv2"})
