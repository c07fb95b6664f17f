"""Mixup and cutmix: they act on a batch, after batching, and turn its labels into mixed one-hot rows.

Each batch is mixed with itself reversed, so no second pipeline is needed; every draw takes a
stateless seed, so a run with a fixed seed is reproducible. Images keep their dtype: uint8 ones are
mixed in float32 and rounded back.
"""
from __future__ import annotations

import tensorflow as tf

from efficientnet_tf import preprocessing


def _beta(shape, alpha: float, seed):
    a_seed, b_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    a = tf.random.stateless_gamma(shape, a_seed, alpha)
    b = tf.random.stateless_gamma(shape, b_seed, alpha)
    return a / (a + b)


def mixup(images, labels, alpha: float, seed):
    """Mix each example with the batch reversed, weight max(l, 1-l), l ~ Beta(alpha, alpha) (reference)."""
    weight = _beta([tf.shape(images)[0]], alpha, seed)
    weight = tf.maximum(weight, 1.0 - weight)
    mixed = _mix(tf.cast(images, tf.float32), tf.cast(images[::-1], tf.float32), weight[:, None, None, None])
    return preprocessing.to_dtype(mixed, images.dtype), _mix(labels, labels[::-1], weight[:, None])


def cutmix(images, labels, alpha: float, seed):
    """Paste one random box of the reversed batch into every image; labels weighted by pasted area."""
    beta_seed, center_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    lam = _beta([], alpha, beta_seed)
    cut = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(cut * tf.cast(height, tf.float32), tf.int32)
    cut_w = tf.cast(cut * tf.cast(width, tf.float32), tf.int32)
    center = tf.random.stateless_uniform([2], center_seed, 0, tf.int32.max, tf.int32) % tf.stack([height, width])
    y0, y1 = tf.maximum(center[0] - cut_h // 2, 0), tf.minimum(center[0] + cut_h // 2, height)
    x0, x1 = tf.maximum(center[1] - cut_w // 2, 0), tf.minimum(center[1] + cut_w // 2, width)
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    box = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
    images = tf.where(box[None, :, :, None], images[::-1], images)
    kept = 1.0 - tf.cast((y1 - y0) * (x1 - x0), tf.float32) / tf.cast(height * width, tf.float32)
    return images, _mix(labels, labels[::-1], kept)


def _mix(a, b, weight):
    return a * weight + b * (1.0 - weight)


def mix_batch(images, labels, num_classes: int, mixup_alpha: float, cutmix_alpha: float, seed):
    """Mixup and/or cutmix on a batch; labels become one-hot float32 [B, num_classes].

    With both alphas > 0 each batch gets one of the two, chosen with probability 1/2.
    """
    labels = tf.one_hot(labels, num_classes, dtype=tf.float32)
    choose_seed, mix_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    do_mixup = lambda: mixup(images, labels, mixup_alpha, mix_seed)  # noqa: E731
    do_cutmix = lambda: cutmix(images, labels, cutmix_alpha, mix_seed)  # noqa: E731
    if mixup_alpha > 0 and cutmix_alpha > 0:
        return tf.cond(tf.random.stateless_uniform([], choose_seed) < 0.5, do_mixup, do_cutmix)
    return do_mixup() if mixup_alpha > 0 else do_cutmix()
