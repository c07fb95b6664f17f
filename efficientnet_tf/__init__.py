"""EfficientNet B0-B7 for Keras 3 / TensorFlow (Tan & Le, 2019)."""
from efficientnet_tf.block_args import DEFAULT_BLOCKS_ARGS, BlockArgs, decode, encode
from efficientnet_tf.layers import ImageNormalization, StochasticDepth
from efficientnet_tf.model import (
    MODELS,
    EfficientNet,
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
    create_model,
    feature_extractor,
    round_filters,
    round_repeats,
)
from efficientnet_tf.profile import profile
from efficientnet_tf.variants import Variant, get_variant, list_variants

__version__ = "0.1.0"
