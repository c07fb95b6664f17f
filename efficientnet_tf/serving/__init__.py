"""A trained model leaving the package: SavedModel, TFLite, predictions on image files, and class
activation maps.

May import: models, weights, data (TFLite calibration reads the pipeline), ``preprocessing``,
``run_dir`` and ``efficientnet_tf.serving``. Never training, scaling or cli.
"""
