"""The reference's compound-scaling tables and a name registry that tests parametrize over.

Coefficients are copied from tensorflow/tpu ``efficientnet_builder.efficientnet_params`` and
``lite/efficientnet_lite_builder.efficientnet_lite_params``: they are the hand-rounded values the
published checkpoints were trained with, not exact alpha**phi etc. EfficientNetV2's table is
``v2_family``'s, registered here as ``v2-b0`` ... ``v2-xl``.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from efficientnet_tf.models.block_args import DEFAULT_BLOCKS_ARGS
from efficientnet_tf.models.v2_family import V2_TABLE


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    width: float
    depth: float
    resolution: int
    dropout: float
    lite: bool = False  # EfficientNet-Lite: no SE, ReLU6, fixed stem/head, "lite" input scaling
    family: str = "v1"  # "v2": EfficientNetV2 (``blocks.FAMILIES``)
    blocks: Tuple[str, ...] = DEFAULT_BLOCKS_ARGS
    normalization: str = "imagenet"
    train_size: Optional[int] = None  # V2: the reference's last training size (eval at ``resolution``)

    @property
    def keras_name(self) -> str:
        """keras.applications' name, also the stem of its weight files (``efficientnetb0``, ``efficientnetv2-s``)."""
        return "efficientnet" + self.name


_TABLE: Dict[str, Tuple[float, float, int, float]] = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
    "b8": (2.2, 3.6, 672, 0.5),
    "l2": (4.3, 5.3, 800, 0.5),
}

_LITE_TABLE: Dict[str, Tuple[float, float, int, float]] = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3),
    "lite4": (1.4, 1.8, 300, 0.3),
}

VARIANTS: Dict[str, Variant] = {
    **{k: Variant(k, *v) for k, v in _TABLE.items()},
    **{k: Variant(k, *v, lite=True) for k, v in _LITE_TABLE.items()},
    **{k: Variant(k, width, depth, eval_size, dropout, family="v2", blocks=blocks, normalization=norm,
                  train_size=train_size)
       for k, (blocks, width, depth, train_size, eval_size, dropout, norm) in V2_TABLE.items()},
}

# The paper's Table 2: (parameters, multiply-adds) as printed.
PAPER_TABLE2: Dict[str, Tuple[float, float]] = {
    "b0": (5.3e6, 0.39e9),
    "b1": (7.8e6, 0.70e9),
    "b2": (9.2e6, 1.0e9),
    "b3": (12e6, 1.8e9),
    "b4": (19e6, 4.2e9),
    "b5": (30e6, 9.9e9),
    "b6": (43e6, 19e9),
    "b7": (66e6, 37e9),
}


def list_variants(lite: bool = True, v2: bool = True) -> Tuple[str, ...]:
    """Every registered name: B0-B8, L2, Lite0-Lite4, then V2 B0-B3, S, M, L, XL (``lite``/``v2``
    False leave those out)."""
    return tuple(k for k, v in VARIANTS.items() if (lite or not v.lite) and (v2 or v.family != "v2"))


def _normalize(name: str) -> str:
    key = name.lower().replace("_", "").replace("-", "")
    return key[len("efficientnet"):] if key.startswith("efficientnet") else key


_BY_KEY = {_normalize(k): v for k, v in VARIANTS.items()}


def get_variant(name: str) -> Variant:
    """Accepts ``b0``, ``efficientnet-b0``, ``EfficientNetB0``, ``efficientnet-lite0``, ``v2-s``,
    ``efficientnetv2-s``, ``EfficientNetV2S`` and the like."""
    key = _normalize(str(name))
    if key not in _BY_KEY:
        raise ValueError(f"unknown EfficientNet variant {name!r}; known: {', '.join(VARIANTS)}")
    return _BY_KEY[key]
