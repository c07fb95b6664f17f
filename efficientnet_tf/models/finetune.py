"""Fine-tuning: whole blocks unfrozen from the top, BatchNormalization kept frozen (keras.io's recipe).

Blocks are read off keras.applications' layer names (``block6a_expand_conv`` ...), so the helper works on
any model of this package, a reloaded ``.keras`` file, and a backbone nested inside a larger model.
"""
from __future__ import annotations

import re
from typing import Iterator, List, Union

import keras

_BLOCK = re.compile(r"^(block\d+[a-z]+)_")


def _leaves(model) -> Iterator[keras.layers.Layer]:
    """Every layer in order, those of nested models (a backbone inside a classifier) included."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        else:
            yield layer


def block_names(model) -> List[str]:
    """The model's MBConv blocks in order: ``["block1a", "block2a", "block2b", ...]``."""
    names = []
    for layer in _leaves(model):
        m = _BLOCK.match(layer.name)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


def _first_block(blocks: List[str], from_block: Union[str, int]) -> str:
    if isinstance(from_block, bool) or not isinstance(from_block, (str, int)):
        raise TypeError(f"from_block must be a block name or a count of blocks, got {from_block!r}")
    if isinstance(from_block, int):
        if not 1 <= from_block <= len(blocks):
            raise ValueError(f"from_block={from_block}: the model has {len(blocks)} blocks, so give 1 to {len(blocks)}")
        return blocks[-from_block]
    # "block6" names a stage: its first block.
    matches = [b for b in blocks if b == from_block or re.fullmatch(re.escape(from_block) + "[a-z]+", b)]
    if not matches:
        raise ValueError(f"no block {from_block!r} in the model; its blocks run from {blocks[0]} to {blocks[-1]}")
    return matches[0]


def unfreeze(model: keras.Model, from_block: Union[str, int] = "block6a", train_bn: bool = False) -> List[str]:
    """Makes ``from_block`` and every layer after it trainable, and freezes every layer before it.

    ``from_block`` is a block name (``"block6a"``; a stage, ``"block6"``, means its first block) or a
    count of blocks from the top (``2``: the last two blocks). The head after the blocks is trainable.
    BatchNormalization stays frozen unless ``train_bn``: small batches of a new dataset would spoil
    its statistics (keras-io#995). Recompile the model afterwards. Returns the layers made trainable
    that have weights.
    """
    blocks = block_names(model)
    if not blocks:
        raise ValueError(f"model {model.name!r} has no EfficientNet blocks (layers named block<stage><letter>_...)")
    first = _first_block(blocks, from_block)
    model.trainable = True  # reaches nested models too, whose flag gates their layers' weights
    unfrozen, started = [], False
    for layer in _leaves(model):
        started = started or layer.name.startswith(first + "_")
        train = started and (train_bn or not isinstance(layer, keras.layers.BatchNormalization))
        layer.trainable = train
        if train and layer.weights:
            unfrozen.append(layer.name)
    return unfrozen
