"""SavedModel export for serving (first version: the float-image signature)."""
from __future__ import annotations

import keras
import tensorflow as tf


def export_saved_model(model: keras.Model, export_dir, class_names=None, image_size=None) -> str:
    """Writes a SavedModel whose ``serving_default`` takes float32 0-255 images [batch, H, W, 3].

    Uses ``keras.export.ExportArchive`` (not a ``tf.Module`` wrapper), so TF1-session loaders such
    as ``saved_model_cli run`` and TF Serving find every variable. The shape is checked inside
    the endpoint because loaded TF2 signatures do not check static shapes themselves.
    """
    h, w = (image_size, image_size) if image_size else tuple(model.inputs[0].shape[1:3])
    spec = tf.TensorSpec([None, h, w, 3], tf.float32, name="images")

    def serve(images):
        images = tf.ensure_shape(images, spec.shape)
        return {"probabilities": tf.cast(model(images, training=False), tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    archive.write_out(str(export_dir), verbose=False)
    return str(export_dir)
