"""Image bytes -> model input, shared by the data pipeline and the serving signature.

Everything here is plain TF ops on one image, so it runs eagerly, inside ``tf.data`` and inside
``tf.map_fn`` in a SavedModel. Outputs are float32 ``[S, S, 3]`` in 0-255: the model normalizes.

JPEG bytes take the fused ``tf.image.decode_and_crop_jpeg`` path (only the crop window is
decoded); PNG, GIF (first frame) and BMP are decoded whole, then cropped. Grayscale and CMYK
inputs come out as 3-channel RGB.

Undecodable bytes (empty, truncated, not an image) make the decode ops raise
``tf.errors.InvalidArgumentError``; :func:`is_image` is a cheap, non-raising signature check
(it cannot see a truncated body, only a wrong or missing header).
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import tensorflow as tf

CROP_PADDING = 32
# The reference's Inception-style crop: (min_object_covered, aspect range, area range, attempts).
MIN_OBJECT_COVERED = 0.1
ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
AREA_RANGE = (0.08, 1.0)
MAX_ATTEMPTS = 10


@dataclasses.dataclass(frozen=True)
class CropPolicy:
    """How much of each image the model sees. The defaults are the reference's ImageNet values;
    a source whose object fills the frame (the 8x8 digits) needs the whole image instead."""

    crop_padding: int = CROP_PADDING  # eval: center crop of S/(S+crop_padding); 0 keeps the whole image
    area_range: Tuple[float, float] = AREA_RANGE  # train: area of the random crop
    flip: bool = True  # train: random horizontal flip


REFERENCE_CROP = CropPolicy()


def is_image(image_bytes) -> tf.Tensor:
    """Scalar bool: the bytes start with a JPEG, PNG, GIF or BMP signature."""
    head = tf.strings.substr(image_bytes, 0, 4)
    return (
        tf.io.is_jpeg(image_bytes)
        | tf.equal(head, b"\x89PNG")
        | tf.equal(head, b"GIF8")
        | tf.equal(tf.strings.substr(head, 0, 2), b"BM")
    )


def decode_image(image_bytes) -> tf.Tensor:
    """uint8 [H, W, 3] from JPEG/PNG/GIF (first frame)/BMP bytes; gray and CMYK become RGB."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _center_window(shape, image_size: int, crop_padding: int) -> tf.Tensor:
    """[y, x, h, w] of the central square covering image_size/(image_size+crop_padding) of the short side."""
    height, width = shape[0], shape[1]
    fraction = image_size / (image_size + crop_padding)
    size = tf.cast(fraction * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    size = tf.maximum(size, 1)
    return tf.stack([(height - size + 1) // 2, (width - size + 1) // 2, size, size])


def _distorted_window(shape, image_size: int, seed, crop: CropPolicy) -> tf.Tensor:
    """[y, x, h, w] of a random Inception crop; the center crop when all attempts fail (as the reference)."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.stack([shape[0], shape[1], 3]),
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        seed=seed,
        min_object_covered=MIN_OBJECT_COVERED,
        aspect_ratio_range=ASPECT_RATIO_RANGE,
        area_range=crop.area_range,
        max_attempts=MAX_ATTEMPTS,
        use_image_if_no_bounding_boxes=True,
    )
    sampled = tf.stack([begin[0], begin[1], size[0], size[1]])
    failed = tf.reduce_all(tf.equal(size[:2], shape[:2]))
    return tf.cond(failed, lambda: _center_window(shape, image_size, crop.crop_padding), lambda: sampled)


def decode_and_crop(image_bytes, window_fn) -> tf.Tensor:
    """uint8 [h, w, 3]: the window ``window_fn(shape)`` of the image, decoding only it for JPEG."""

    def jpeg():
        window = window_fn(tf.image.extract_jpeg_shape(image_bytes))
        return tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)

    def other():
        image = decode_image(image_bytes)
        y, x, h, w = tf.unstack(window_fn(tf.shape(image)))
        return image[y : y + h, x : x + w]

    image = tf.cond(tf.io.is_jpeg(image_bytes), jpeg, other)
    image.set_shape([None, None, 3])
    return image


def _resize(image, image_size: int) -> tf.Tensor:
    """Bicubic resize to [S, S, 3] float32, clipped because bicubic overshoots 0-255."""
    image = tf.image.resize(image, [image_size, image_size], method="bicubic")
    return tf.clip_by_value(image, 0.0, 255.0)


def preprocess_for_train(image_bytes, image_size: int, seed=None, crop: CropPolicy = REFERENCE_CROP) -> tf.Tensor:
    """Random Inception crop, horizontal flip, bicubic resize: float32 [S, S, 3] in 0-255.

    ``seed`` (shape [2] int) makes the crop and flip reproducible; None draws one at random.
    """
    if seed is None:
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = decode_and_crop(image_bytes, lambda shape: _distorted_window(shape, image_size, crop_seed, crop))
    if crop.flip:
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return _resize(image, image_size)


def preprocess_for_eval(image_bytes, image_size: int, crop_padding: int = CROP_PADDING) -> tf.Tensor:
    """Center crop of image_size/(image_size+crop_padding), bicubic resize: float32 [S, S, 3] in 0-255."""
    image = decode_and_crop(image_bytes, lambda shape: _center_window(shape, image_size, crop_padding))
    return _resize(image, image_size)


def to_dtype(image, dtype) -> tf.Tensor:
    """A 0-255 ``image`` as ``dtype``: rounded and clipped for an integer dtype (a bare cast truncates
    and wraps around), cast otherwise."""
    dtype = tf.as_dtype(dtype)
    if image.dtype != dtype and dtype.is_integer:
        image = tf.clip_by_value(tf.round(image), 0.0, 255.0)
    return tf.cast(image, dtype)
