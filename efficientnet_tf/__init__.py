"""EfficientNet B0-B8, L2, Lite0-Lite4 (Tan & Le, 2019) and EfficientNetV2 B0-B3, S, M, L, XL (Tan & Le,
2021) for Keras 3 / TensorFlow."""
from efficientnet_tf.models.block_args import DEFAULT_BLOCKS_ARGS, BlockArgs, decode, encode
from efficientnet_tf.models.finetune import block_names, unfreeze
from efficientnet_tf.models.features import FeatureInfo, feature_extractor, feature_info
from efficientnet_tf.models.imagenet import decode_predictions, preprocess_input
from efficientnet_tf.models.layers import NORMALIZATIONS, ImageNormalization, StochasticDepth
from efficientnet_tf.models.efficientnet import (
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
    EfficientNetB8,
    EfficientNetL2,
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
    EfficientNetLite3,
    EfficientNetLite4,
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
    EfficientNetV2XL,
    create_model,
    round_filters,
    round_repeats,
)
from efficientnet_tf.models.profile import profile
from efficientnet_tf.models.variants import Variant, get_variant, list_variants

__version__ = "0.1.0"
