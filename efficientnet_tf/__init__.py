"""EfficientNet B0-B7 for Keras 3 / TensorFlow (Tan & Le, 2019)."""
from efficientnet_tf.block_args import DEFAULT_BLOCKS_ARGS, BlockArgs, decode, encode
from efficientnet_tf.variants import Variant, get_variant, list_variants

__version__ = "0.1.0"
