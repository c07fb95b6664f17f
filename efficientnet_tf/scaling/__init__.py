"""Compound scaling: the method (alpha, beta, gamma and the scaled baselines), its grid search and the
NAS objective, and the paper's tables beside the models built here.

May import: models, data, training (the grid search trains each candidate), ``preprocessing`` and
``efficientnet_tf.scaling``. Never serving or cli.
"""
from efficientnet_tf.scaling.baselines import MobileNetV1, ResNet50
from efficientnet_tf.scaling.method import (
    MobileNetV2,
    compound_coefficients,
    efficientnet_from_phi,
    grid_search,
    nas_objective,
    scaled_efficientnet,
)

__all__ = [
    "MobileNetV1", "MobileNetV2", "ResNet50", "compound_coefficients", "efficientnet_from_phi", "grid_search",
    "nas_objective", "scaled_efficientnet",
]
