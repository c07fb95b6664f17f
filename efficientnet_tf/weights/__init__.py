"""Weights into a built model: keras.applications' h5 by layer name, the official tensorflow/tpu
checkpoints by variable name, the stem fitted to other channel counts, and the h5 writer.

Works on any ``keras.Model`` it is given, so it may import only ``efficientnet_tf.weights``.
"""
