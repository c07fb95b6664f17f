"""The networks: block strings, variants, layers, blocks, the builder and what reads a built model
(features, fine-tuning, profile, ImageNet labels).

May import: ``efficientnet_tf.models``, ``efficientnet_tf.weights`` (for ``weights=``). Never data,
serving, scaling, training or cli.
"""
