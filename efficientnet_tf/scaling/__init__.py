"""Compound scaling: the method (alpha, beta, gamma and the scaled baselines), its grid search, and the
paper's Table 2 summary.

May import: models, data, training (the grid search trains each candidate), ``preprocessing`` and
``efficientnet_tf.scaling``. Never serving or cli.
"""
