"""Class activation maps (the paper's Figure 7): where in the image the last conv features support a class.

``cam`` is Zhou et al.'s CAM, exact for this head (global average pool -> dropout -> dense):
the class's dense weights applied to every position of ``top_activation``. ``gradcam`` weights the
features by the pooled gradient of the class's log-probability, so it also works on other heads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from efficientnet_tf import preprocessing

FEATURES = "top_activation"
METHODS = ("cam", "gradcam")


def heatmaps(model: keras.Model, images, class_index: Optional[int] = None, method: str = "cam"):
    """float32 [batch, h, w] maps in [0, 1] at feature resolution, and the int32 class of each image.

    ``images`` are float32 0-255 at the model's input size; ``class_index`` None means each image's
    predicted class.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    sub = keras.Model(model.inputs, [model.get_layer(FEATURES).output, model.outputs[0]])
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        features, probs = sub(images, training=False)
        features, probs = tf.cast(features, tf.float32), tf.cast(probs, tf.float32)
        if class_index is None:
            classes = tf.argmax(probs, -1, output_type=tf.int32)
        else:
            classes = tf.fill([tf.shape(probs)[0]], tf.constant(class_index, tf.int32))
        score = tf.math.log(tf.gather(probs, classes, batch_dims=1) + 1e-12)
    if method == "cam":
        kernel = tf.cast(model.get_layer("predictions").kernel, tf.float32)  # [channels, classes]
        weights = tf.transpose(tf.gather(kernel, classes, axis=1))
    else:
        weights = tf.reduce_mean(tape.gradient(score, features), axis=[1, 2])
    maps = tf.einsum("bhwc,bc->bhw", features, weights)
    if method == "gradcam":
        maps = tf.nn.relu(maps)
    low = tf.reduce_min(maps, axis=[1, 2], keepdims=True)
    high = tf.reduce_max(maps, axis=[1, 2], keepdims=True)
    return (maps - low) / tf.maximum(high - low, 1e-12), classes


def overlay(image, heatmap, alpha: float = 0.45) -> np.ndarray:
    """uint8 [H, W, 3]: ``image`` blended with ``heatmap`` (resized to H x W) in the jet colour map."""
    import matplotlib

    image = np.asarray(image)
    resized = tf.image.resize(np.asarray(heatmap, np.float32)[..., None], image.shape[:2], method="bilinear")
    colours = matplotlib.colormaps["jet"](np.clip(resized.numpy()[..., 0], 0.0, 1.0))[..., :3] * 255.0
    return np.round((1 - alpha) * image.astype(np.float32) + alpha * colours).astype(np.uint8)


def image_cam(
    model: keras.Model, image_bytes: bytes, class_index: Optional[int] = None, method: str = "cam"
) -> Tuple[np.ndarray, np.ndarray, int]:
    """(overlay uint8 [H, W, 3], heatmap [h, w], class) for one encoded image, at the image's own size.

    The whole image (no centre crop) is resized to the model's input, so the map covers all of it.
    """
    image = preprocessing.decode_image(image_bytes)
    size = [d or image.shape[i] for i, d in enumerate(model.inputs[0].shape[1:3])]
    x = tf.clip_by_value(tf.image.resize(image, size, method="bicubic"), 0.0, 255.0)
    maps, classes = heatmaps(model, x[None], class_index, method)
    return overlay(image.numpy(), maps[0]), maps[0].numpy(), int(classes[0])


def write_cam(model: keras.Model, image_path, out_path, class_index=None, method: str = "cam") -> int:
    """Writes the overlaid PNG and returns the class shown."""
    from PIL import Image

    picture, _, cls = image_cam(model, Path(image_path).read_bytes(), class_index, method)
    Image.fromarray(picture).save(out_path, format="PNG")
    return cls
