"""Class activation maps (the paper's Figure 7): where in the image the last conv features support a class.

``cam`` is Zhou et al.'s CAM, exact for this head (global average pool -> dropout -> dense):
the class's dense weights applied to every position of ``top_activation``. ``gradcam`` weights the
features by the pooled gradient of the class's log-probability, so it also works on other heads.

A map is drawn over the image with each feature cell at the centre of its receptive field, which
is not the centre of the cell's nominal 32 x 32 block (``models.features.feature_info``), and reaches
the picture's borders like its interior.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.models.features import feature_info

FEATURES = "top_activation"
METHODS = ("cam", "gradcam")


def feature_grid(model: keras.Model) -> Tuple[np.ndarray, np.ndarray]:
    """(stride, offset), each float [2] (rows, columns), of ``top_activation`` as the model's
    ``feature_info`` records it: feature cell i is centred on input pixel ``stride * i + offset``."""
    head = next((info for info in feature_info(model) if info.name == FEATURES), None)
    if head is None:
        raise ValueError(f"model has no {FEATURES!r} layer")
    return np.full(2, float(head.stride)), np.asarray(head.offset, np.float64)


def heatmaps(
    model: keras.Model,
    images,
    class_index: Optional[int] = None,
    method: str = "cam",
    size: Optional[Sequence[int]] = None,
):
    """float32 [batch, h, w] maps in [0, 1] at feature resolution, and the int32 class of each image.

    ``images`` are float32 0-255 at the model's input size; ``class_index`` None means each image's
    predicted class. With ``size`` = (H, W), the size of the pictures the images were resized from,
    the maps are drawn at that size instead (:func:`draw`).
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
    maps = (maps - low) / tf.maximum(high - low, 1e-12)
    if size is not None:
        maps = draw(model, maps, images.shape[1:3], size)
    return maps, classes


def draw(model: keras.Model, maps, input_size: Sequence[int], size: Sequence[int]) -> tf.Tensor:
    """float32 [batch, H, W] in [0, 1]: feature-resolution ``maps`` of inputs of ``input_size``,
    drawn over pictures of ``size`` = (H, W) that were resized whole to the input.

    Each cell's value sits at its receptive-field centre (:func:`feature_grid`) and is
    interpolated with Keys' cubic, so a map can peak between two cells. The edge cells are repeated
    past the borders first, so the strip between the outer centres and the picture's edge is drawn
    from the map like the interior (not faded to zero as a resampler does outside its samples).
    """
    stride, offset = feature_grid(model)
    scale = np.asarray(size, np.float64) / np.asarray(input_size, np.float64)  # picture px per input px
    maps = _repeat_edges(tf.convert_to_tensor(maps, tf.float32), _EDGE_CELLS)
    # ScaleAndTranslate puts source sample i (centre i + 1/2) at cell_scale * (i + 1/2) + translation.
    cell_scale = stride * scale
    translation = (offset + 0.5) * scale - cell_scale / 2 - _EDGE_CELLS * cell_scale
    drawn = tf.raw_ops.ScaleAndTranslate(
        images=maps[..., None], size=tf.constant(size, tf.int32),
        scale=tf.constant(cell_scale, tf.float32), translation=tf.constant(translation, tf.float32),
        kernel_type="keyscubic", antialias=False,
    )
    return tf.clip_by_value(drawn[..., 0], 0.0, 1.0)


_EDGE_CELLS = 2  # Keys' cubic reaches two samples on each side


def _repeat_edges(maps: tf.Tensor, n: int) -> tf.Tensor:
    """[batch, h + 2n, w + 2n]: ``maps`` with its first and last rows and columns repeated n times."""
    rows = tf.concat([tf.repeat(maps[:, :1], n, axis=1), maps, tf.repeat(maps[:, -1:], n, axis=1)], axis=1)
    return tf.concat([tf.repeat(rows[:, :, :1], n, axis=2), rows, tf.repeat(rows[:, :, -1:], n, axis=2)], axis=2)


def overlay(image, heatmap, alpha: float = 0.45) -> np.ndarray:
    """uint8 [H, W, 3]: ``image`` blended with ``heatmap`` [H, W] (drawn at the image's size) in the jet colour map."""
    import matplotlib

    image, heatmap = np.asarray(image), np.asarray(heatmap, np.float32)
    if heatmap.shape != image.shape[:2]:
        raise ValueError(f"heatmap {heatmap.shape} must have the image's size {image.shape[:2]}: "
                         "draw it with heatmaps(..., size=image.shape[:2])")
    colours = matplotlib.colormaps["jet"](np.clip(heatmap, 0.0, 1.0))[..., :3] * 255.0
    return np.round((1 - alpha) * image.astype(np.float32) + alpha * colours).astype(np.uint8)


def image_cam(
    model: keras.Model, image_bytes: bytes, class_index: Optional[int] = None, method: str = "cam"
) -> Tuple[np.ndarray, np.ndarray, int]:
    """(overlay uint8 [H, W, 3], heatmap float32 [H, W], class) for one encoded image, at its own size.

    The whole image (no centre crop) is resized to the model's input, so the map covers all of it.
    """
    image = preprocessing.decode_image(image_bytes)
    size = [d or image.shape[i] for i, d in enumerate(model.inputs[0].shape[1:3])]
    x = tf.clip_by_value(tf.image.resize(image, size, method="bicubic"), 0.0, 255.0)
    maps, classes = heatmaps(model, x[None], class_index, method, size=image.shape[:2])
    return overlay(image.numpy(), maps[0]), maps[0].numpy(), int(classes[0])


def write_cam(model: keras.Model, image_path, out_path, class_index=None, method: str = "cam") -> int:
    """Writes the overlaid PNG and returns the class shown."""
    from PIL import Image

    picture, _, cls = image_cam(model, Path(image_path).read_bytes(), class_index, method)
    Image.fromarray(picture).save(out_path, format="PNG")
    return cls
