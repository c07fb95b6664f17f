"""SavedModel export for serving; a run directory's layout and its readers are in :mod:`efficientnet_tf.run_dir`.

Two signatures, both ending in float32 ``probabilities`` (the softmax stays float32 under mixed
precision):

- ``serving_default``: float32 ``[batch, H, W, 3]`` in 0-255.
- ``serving_bytes``: string ``[batch]`` of JPEG/PNG/GIF/BMP bytes, run through the data pipeline's
  own :func:`efficientnet_tf.preprocessing.preprocess_for_eval`, plus ``top_k_classes``,
  ``top_k_scores`` and, when class names are known, ``top_k_labels``.

Security: a SavedModel or legacy ``.h5`` is a program (TensorFlow's SECURITY.md); only load those you
made yourself.
"""
from __future__ import annotations

from importlib import resources
from typing import List, Optional, Sequence

import keras
import tensorflow as tf

from efficientnet_tf import preprocessing, run_dir
from efficientnet_tf.files import atomic_output

TOP_K = 5


def imagenet_class_names() -> List[str]:
    """The 1000 ImageNet-1k class names in label order, shipped with the package."""
    text = resources.files("efficientnet_tf").joinpath("assets/imagenet_classes.txt").read_text("utf-8")
    return text.splitlines()


def default_class_names(num_classes: int, class_names: Optional[Sequence[str]] = None) -> Optional[List[str]]:
    """The given names (checked against the class count), ImageNet's for 1000 classes, else None."""
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for a model with {num_classes} classes")
        return class_names
    return imagenet_class_names() if num_classes == 1000 else None


def _spec_text(spec: tf.TensorSpec) -> str:
    dims = ", ".join("batch" if d is None else str(d) for d in spec.shape)
    return f"{spec.dtype.name} [{dims}]"


def _check_images(images, spec: tf.TensorSpec):
    """Runtime shape check naming the expected spec: loaded TF2 signatures skip static shape checks.

    ``tf.shape`` of the input is data-dependent (the batch is unknown), so neither Python nor
    Grappler can fold this check away, unlike ``assert_rank`` on the placeholder's static shape.
    """
    expected = tf.constant([d if d is not None else -1 for d in spec.shape], tf.int32)
    shape = tf.shape(images, out_type=tf.int32)
    rank_ok = tf.equal(tf.size(shape), tf.size(expected))
    padded = tf.concat([shape, tf.zeros([tf.size(expected)], tf.int32)], 0)[: tf.size(expected)]
    dims_ok = tf.reduce_all((expected < 0) | tf.equal(padded, expected))
    message = tf.strings.format(
        "images must be " + _spec_text(spec) + " (0-255 RGB), got shape {}", shape, summarize=-1
    )
    check = tf.debugging.Assert(rank_ok & dims_ok, [message])
    with tf.control_dependencies([check]):
        return tf.ensure_shape(tf.identity(images), spec.shape)


def _decode_batch(image_bytes, image_size: int, crop_padding: int):
    """float32 [batch, S, S, 3] via the pipeline's eval preprocessing; a non-image names its index."""

    def one(args):
        index, data = args
        message = tf.strings.format(
            "serving_bytes: element {} of the batch is not a JPEG, PNG, GIF or BMP image", index
        )
        check = tf.debugging.Assert(preprocessing.is_image(data), [message])
        with tf.control_dependencies([check]):
            return preprocessing.preprocess_for_eval(tf.identity(data), image_size, crop_padding)

    indices = tf.range(tf.shape(image_bytes)[0])
    return tf.map_fn(
        one,
        (indices, image_bytes),
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
    )


def serving_functions(model: keras.Model, class_names=None, image_size=None, top_k: int = TOP_K, batch_size=None,
                      crop_padding: int = preprocessing.CROP_PADDING):
    """``{name: (fn, input_spec)}`` for ``serving_default`` and ``serving_bytes``; shared by export and predict.

    ``crop_padding`` is the eval center crop the model was validated with (``DatasetInfo.crop``).

    ``batch_size`` None (the default) serves any batch; a fixed one lets TFLite fold the shape
    arithmetic of the squeeze-excite reshapes, so XNNPACK can take the whole graph.
    """
    h, w = (image_size, image_size) if image_size else tuple(model.inputs[0].shape[1:3])
    if h is None or w is None or h != w:
        raise ValueError(f"serving needs a square static image size; pass image_size= (model input {h}x{w})")
    names = default_class_names(int(model.outputs[0].shape[-1]), class_names)
    k = min(top_k, int(model.outputs[0].shape[-1]))
    spec = tf.TensorSpec([batch_size, h, w, 3], tf.float32, name="images")

    def probabilities(images):
        return tf.cast(model(images, training=False), tf.float32)

    def serve(images):
        return {"probabilities": probabilities(_check_images(images, spec))}

    def serve_bytes(image_bytes):
        probs = probabilities(_decode_batch(image_bytes, h, crop_padding))
        scores, classes = tf.math.top_k(probs, k=k)
        out = {"probabilities": probs, "top_k_classes": classes, "top_k_scores": scores}
        if names is not None:
            out["top_k_labels"] = tf.gather(tf.constant(names), classes)
        return out

    return {
        "serving_default": (serve, spec),
        "serving_bytes": (serve_bytes, tf.TensorSpec([batch_size], tf.string, name="image_bytes")),
    }


def export_saved_model(
    model: keras.Model,
    export_dir,
    class_names=None,
    image_size=None,
    top_k: int = TOP_K,
    batch_size=None,
    crop_padding: int = preprocessing.CROP_PADDING,
) -> str:
    """Writes a SavedModel with ``serving_default`` (float images) and ``serving_bytes`` (encoded images).

    Uses ``keras.export.ExportArchive`` (not a ``tf.Module`` wrapper), so TF1-session loaders such
    as ``saved_model_cli run`` and TF Serving find every variable. Class names (given, or
    ImageNet's for 1000 classes) are baked into ``serving_bytes`` as ``top_k_labels`` and written
    to ``assets.extra/class_names.txt``; ``crop_padding`` to ``assets.extra/crop_padding.txt``, so
    that serving from the run's ``.keras`` file crops the same way.
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    functions = serving_functions(model, class_names, image_size, top_k, batch_size, crop_padding)
    for name, (fn, spec) in functions.items():
        archive.add_endpoint(name, fn, input_signature=[spec])
    with atomic_output(export_dir) as partial:  # a failed export leaves no half-written SavedModel
        archive.write_out(partial, verbose=False)
        run_dir.write_stored(partial, default_class_names(int(model.outputs[0].shape[-1]), class_names), crop_padding)
    return str(export_dir)
