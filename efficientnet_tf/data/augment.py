"""AutoAugment (policy v0), RandAugment, mixup and cutmix as TF ops that run inside ``tf.data``.

Ops and magnitudes follow tensorflow/tpu ``efficientnet/autoaugment.py``: levels are on the
reference's 0-10 scale (``MAX_LEVEL``; RandAugment magnitudes above 10, e.g. 17 for B5 and 28 for
B7 as the reference README suggests, extrapolate the same linear maps), rotate/shear/translate
flip sign with probability 1/2 and fill with gray 128, AutoAugment uses translate 250 px and
cutout 100 px, RandAugment translate 100 px and cutout 40 px, and a RandAugment layer applies its
chosen op unconditionally. Differences from the reference, on purpose:

* Contrast blends towards the image's true mean gray level. The reference blends towards
  ``num_pixels / 256`` (a histogram bug), a gray that depends on the resolution.
* Posterize keeps ``int(level / 10 * 4)`` bits like the reference (so level < 2.5 keeps 0 bits
  and blacks the image out, as the reference does), but clamps to 8 bits for levels > 20, where
  the reference shifts by a negative amount. Solarize thresholds of 256 and up (level >= 10)
  are a no-op, as in the reference.
* Color blends towards the float gray image; the reference first rounds it to uint8 (a difference
  of at most a level or two per pixel).

Every op is a few TF ops on a single uint8 image with a stateless seed, so a run with a fixed seed
is reproducible and only the selected op executes (``tf.switch_case``). Keras 3's preprocessing
layers were not reused: ``keras.layers.RandAugment`` runs ~30 img/s, the single layers draw their
own unseeded randomness and clamp factors to ranges that cannot express the reference's magnitudes
above 10, and ours run 2-4x faster than their nearest Keras layer (Sharpness and Color about the
same; ``benchmarks/input_pipeline.py`` prints both). The speed comes from avoiding CPU slow paths:
broadcasting binary ops and ``tf.where`` (SelectV2), per-channel coordinate maps in
``ImageProjectiveTransformV3`` and ``tf.gather`` for lookup tables. Tests pin the results to
TF's projective transform, PIL and NumPy references.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Dict, Tuple

import tensorflow as tf

MAX_LEVEL = 10.0
FILL_VALUE = 128.0

# (op, probability, level) pairs; one sub-policy of two ops is drawn per image.
AUTOAUGMENT_POLICY_V0: Tuple[Tuple[Tuple[str, float, int], ...], ...] = (
    (("Equalize", 0.8, 1), ("ShearY", 0.8, 4)),
    (("Color", 0.4, 9), ("Equalize", 0.6, 3)),
    (("Color", 0.4, 1), ("Rotate", 0.6, 8)),
    (("Solarize", 0.8, 3), ("Equalize", 0.4, 7)),
    (("Solarize", 0.4, 2), ("Solarize", 0.6, 2)),
    (("Color", 0.2, 0), ("Equalize", 0.8, 8)),
    (("Equalize", 0.4, 8), ("SolarizeAdd", 0.8, 3)),
    (("ShearX", 0.2, 9), ("Rotate", 0.6, 8)),
    (("Color", 0.6, 1), ("Equalize", 1.0, 2)),
    (("Invert", 0.4, 9), ("Rotate", 0.6, 0)),
    (("Equalize", 1.0, 9), ("ShearY", 0.6, 3)),
    (("Color", 0.4, 7), ("Equalize", 0.6, 0)),
    (("Posterize", 0.4, 6), ("AutoContrast", 0.4, 7)),
    (("Solarize", 0.6, 8), ("Color", 0.6, 9)),
    (("Solarize", 0.2, 4), ("Rotate", 0.8, 9)),
    (("Rotate", 1.0, 7), ("TranslateY", 0.8, 9)),
    (("ShearX", 0.0, 0), ("Solarize", 0.8, 4)),
    (("ShearY", 0.8, 0), ("Color", 0.6, 4)),
    (("Color", 1.0, 0), ("Rotate", 0.6, 2)),
    (("Equalize", 0.8, 4), ("Equalize", 0.0, 8)),
    (("Equalize", 1.0, 4), ("AutoContrast", 0.6, 2)),
    (("ShearY", 0.4, 7), ("SolarizeAdd", 0.6, 7)),
    (("Posterize", 0.8, 2), ("Solarize", 0.6, 10)),
    (("Solarize", 0.6, 8), ("Equalize", 0.6, 1)),
    (("Color", 0.8, 6), ("Rotate", 0.4, 5)),
)

RANDAUGMENT_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "Color", "Contrast",
    "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY", "Cutout", "SolarizeAdd",
)

# (translate_const, cutout_const) in pixels, as the reference.
AUTOAUGMENT_CONSTS = (250.0, 100)
RANDAUGMENT_CONSTS = (100.0, 40)


def _blend(image1, image2, factor):
    """image1 + factor * (image2 - image1), clipped: factor 0 gives image1, 1 gives image2."""
    image1 = tf.cast(image1, tf.float32)
    mixed = image1 + factor * (tf.cast(image2, tf.float32) - image1)
    return tf.cast(tf.clip_by_value(mixed, 0.0, 255.0), tf.uint8)


def _transform(image, transform):
    """Projective transform of a uint8 [H, W, 3] image, nearest neighbour, gray fill (as the reference).

    Same maps and rounding (half away from zero) as ``ImageProjectiveTransformV3``, but the source
    pixel is computed once per pixel rather than once per channel and then gathered: 2-3x faster
    in the input pipeline.
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    a0, a1, a2, b0, b1, b2, c0, c1 = tf.unstack(tf.cast(transform, tf.float32))
    ys = tf.cast(tf.range(height), tf.float32)[:, tf.newaxis]
    xs = tf.cast(tf.range(width), tf.float32)[tf.newaxis, :]
    projection = c0 * xs + c1 * ys + 1.0
    x_in = _round_half_away((a0 * xs + a1 * ys + a2) / projection)
    y_in = _round_half_away((b0 * xs + b1 * ys + b2) / projection)
    inside = (x_in >= 0) & (x_in < width) & (y_in >= 0) & (y_in < height)
    index = _select(inside, y_in * width + x_in, tf.fill(tf.shape(inside), height * width))  # fill pixel
    pixels = tf.concat([tf.reshape(image, [-1, 3]), tf.fill([1, 3], tf.cast(FILL_VALUE, image.dtype))], 0)
    return tf.gather_nd(pixels, index[:, :, tf.newaxis])


def _round_half_away(x):
    """std::round, as TF's nearest-neighbour image ops use (tf.round rounds half to even)."""
    return tf.cast(tf.sign(x) * tf.floor(tf.abs(x) + 0.5), tf.int32)


def _select(condition, x, y):
    """tf.where for same-shape operands: the non-broadcasting Select kernel is ~3x faster on CPU."""
    return tf.raw_ops.Select(condition=condition, x=x, y=y)


def _random_sign(value, seed):
    return tf.where(tf.random.stateless_uniform([], seed) < 0.5, -value, value)


def _channel_values(image):
    """Flat int32 pixel values plus 256 * channel, so one bincount or one gather serves all channels.

    The offsets are tiled rather than broadcast: broadcasting binary ops are several times slower on CPU.
    """
    offsets = tf.tile(tf.constant([0, 256, 512]), [tf.size(image) // 3])
    return tf.reshape(tf.cast(image, tf.int32), [-1]) + offsets


def _lookup(image, luts, values):
    """Map each channel of `image` through its row of `luts` [3, 256]; `values` = _channel_values(image).

    gather_nd, because it measured faster than gather here.
    """
    flat = tf.gather_nd(tf.reshape(tf.cast(luts, tf.uint8), [-1]), values[:, tf.newaxis])
    return tf.reshape(flat, tf.shape(image))


def autocontrast(image):
    """Stretch each channel to the full 0-255 range; flat channels are left alone."""
    lo = tf.cast(tf.reduce_min(image, axis=[0, 1]), tf.float32)[:, tf.newaxis]
    hi = tf.cast(tf.reduce_max(image, axis=[0, 1]), tf.float32)[:, tf.newaxis]
    scale = tf.where(hi > lo, 255.0 / tf.maximum(hi - lo, 1.0), 1.0)
    offset = tf.where(hi > lo, -lo * scale, 0.0)
    luts = tf.clip_by_value(tf.range(256.0)[tf.newaxis] * scale + offset, 0.0, 255.0)
    return _lookup(image, luts, _channel_values(image))


def equalize(image):
    """PIL's per-channel histogram equalization, all three channels in one bincount and one lookup."""
    values = _channel_values(image)
    histo = tf.reshape(tf.math.bincount(values, minlength=768, maxlength=768), [3, 256])
    # PIL's step ignores the count of the highest non-empty bin.
    last = tf.reduce_max(tf.where(histo > 0, tf.range(256), -1), axis=1)
    last_count = tf.gather(histo, last, batch_dims=1)
    step = (tf.reduce_sum(histo, axis=1) - last_count) // 255
    safe_step = tf.maximum(step, 1)[:, tf.newaxis]
    lut = (tf.cumsum(histo, axis=1) + safe_step // 2) // safe_step
    lut = tf.clip_by_value(tf.concat([tf.zeros([3, 1], tf.int32), lut[:, :-1]], axis=1), 0, 255)
    return _lookup(image, tf.where(step[:, tf.newaxis] > 0, lut, tf.range(256)[tf.newaxis]), values)


def invert(image):
    return 255 - image


def rotate(image, degrees):
    radians = degrees * math.pi / 180.0
    shape = tf.cast(tf.shape(image), tf.float32)
    h, w = shape[0] - 1.0, shape[1] - 1.0
    cos, sin = tf.cos(radians), tf.sin(radians)
    x_offset = (w - (cos * w - sin * h)) / 2.0
    y_offset = (h - (sin * w + cos * h)) / 2.0
    return _transform(image, tf.stack([cos, -sin, x_offset, sin, cos, y_offset, 0.0, 0.0]))


def translate_x(image, pixels):
    return _transform(image, tf.stack([1.0, 0.0, -pixels, 0.0, 1.0, 0.0, 0.0, 0.0]))


def translate_y(image, pixels):
    return _transform(image, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, -pixels, 0.0, 0.0]))


def shear_x(image, level):
    return _transform(image, tf.stack([1.0, level, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]))


def shear_y(image, level):
    return _transform(image, tf.stack([1.0, 0.0, 0.0, level, 1.0, 0.0, 0.0, 0.0]))


def posterize(image, bits: int):
    shift = 8 - min(max(int(bits), 0), 8)
    return tf.bitwise.left_shift(tf.bitwise.right_shift(image, shift), shift)


def solarize(image, threshold: int):
    if threshold > 255:
        return image
    return _select(image < max(threshold, 0), image, 255 - image)


def solarize_add(image, addition: int, threshold: int = 128):
    """Add `addition` >= 0 to pixels below `threshold`, saturating at 255, in uint8 arithmetic."""
    if addition < 0:
        raise ValueError(f"solarize_add needs addition >= 0 (a level >= 0), got {addition}")
    add = tf.constant(min(addition, 255), tf.uint8)
    return _select(image < threshold, tf.minimum(image, 255 - add) + add, image)


def _gray(image):
    return tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))


def color(image, factor):
    return _blend(tf.broadcast_to(_gray(image), tf.shape(image)), image, factor)


def contrast(image, factor):
    return _blend(tf.broadcast_to(tf.reduce_mean(_gray(image)), tf.shape(image)), image, factor)


def brightness(image, factor):
    return _blend(tf.zeros_like(image), image, factor)


def sharpness(image, factor):
    """Blend with PIL's SMOOTH-filtered image; the 1-px border keeps the original pixels.

    SMOOTH is [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13: a 3x3 box sum from shifted slices plus 4x the
    center, which measured 1.6x faster on CPU than avg_pool and 2.8x faster than a depthwise conv.
    """
    image_f = tf.cast(image, tf.float32)
    rows = image_f[:-2] + image_f[1:-1] + image_f[2:]
    center = image_f[1:-1, 1:-1]
    smooth = tf.round((rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:] + 4.0 * center) / 13.0)
    return _blend(image_f + tf.pad(smooth - center, [[1, 1], [1, 1], [0, 0]]), image, factor)


def cutout(image, pad_size: int, seed):
    """Gray out a (2 * pad_size)^2 square at a uniformly random center (clipped at the borders)."""
    shape = tf.shape(image)
    center = tf.random.stateless_uniform([2], seed, minval=0, maxval=tf.int32.max, dtype=tf.int32) % shape[:2]
    lo = tf.maximum(center - pad_size, 0)
    hi = tf.minimum(center + pad_size, shape[:2])
    square = tf.ones(tf.concat([hi - lo, shape[2:]], 0), tf.bool)
    inside = tf.pad(square, tf.concat([tf.stack([lo, shape[:2] - hi], axis=1), [[0, 0]]], 0))
    return _select(inside, tf.fill(shape, tf.cast(FILL_VALUE, image.dtype)), image)


def _enhance(level):
    return level / MAX_LEVEL * 1.8 + 0.1


def _op(name: str, level: float, consts: Tuple[float, int]) -> Callable:
    """image, seed -> image for op `name` at reference level `level` (Python number)."""
    translate_const, cutout_const = consts
    scale = level / MAX_LEVEL
    table: Dict[str, Callable] = {
        "AutoContrast": lambda im, s: autocontrast(im),
        "Equalize": lambda im, s: equalize(im),
        "Invert": lambda im, s: invert(im),
        "Rotate": lambda im, s: rotate(im, _random_sign(scale * 30.0, s)),
        "Posterize": lambda im, s: posterize(im, int(scale * 4)),
        "Solarize": lambda im, s: solarize(im, int(scale * 256)),
        "SolarizeAdd": lambda im, s: solarize_add(im, int(scale * 110)),
        "Color": lambda im, s: color(im, _enhance(level)),
        "Contrast": lambda im, s: contrast(im, _enhance(level)),
        "Brightness": lambda im, s: brightness(im, _enhance(level)),
        "Sharpness": lambda im, s: sharpness(im, _enhance(level)),
        "ShearX": lambda im, s: shear_x(im, _random_sign(scale * 0.3, s)),
        "ShearY": lambda im, s: shear_y(im, _random_sign(scale * 0.3, s)),
        "TranslateX": lambda im, s: translate_x(im, _random_sign(scale * translate_const, s)),
        "TranslateY": lambda im, s: translate_y(im, _random_sign(scale * translate_const, s)),
        "Cutout": lambda im, s: cutout(im, int(scale * cutout_const), s),
    }
    return table[name]


def _uint8_in_out(fn):
    """Let an op take uint8 or float 0-255 images; float comes back float (rounded to integers)."""

    @functools.wraps(fn)
    def wrapper(image, *args, **kwargs):
        image = tf.convert_to_tensor(image)
        static_shape = image.shape
        dtype = image.dtype
        if dtype != tf.uint8:
            image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        out = fn(image, *args, **kwargs)
        out.set_shape(static_shape)
        return out if dtype == tf.uint8 else tf.cast(out, dtype)

    return wrapper


@_uint8_in_out
def apply_op(image, name: str, level: float, seed, consts: Tuple[float, int] = RANDAUGMENT_CONSTS):
    """One named reference op at `level` on a single [H, W, 3] image (used by tests and the benchmark)."""
    return _op(name, level, consts)(image, seed)


@_uint8_in_out
def autoaugment(image, seed):
    """AutoAugment policy v0: one random sub-policy, each of its ops applied with its probability."""
    select_seed, *op_seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))

    def sub_policy(ops):
        def run():
            out = image
            for (name, prob, level), apply_seed, op_seed in zip(ops, op_seeds[:2], op_seeds[2:]):
                fn = _op(name, level, AUTOAUGMENT_CONSTS)
                apply = tf.random.stateless_uniform([], apply_seed) < prob
                out = tf.cond(apply, lambda o=out, f=fn, s=op_seed: f(o, s), lambda o=out: o)
            return out

        return run

    index = tf.random.stateless_uniform([], select_seed, 0, len(AUTOAUGMENT_POLICY_V0), tf.int32)
    return tf.switch_case(index, [sub_policy(ops) for ops in AUTOAUGMENT_POLICY_V0])


@_uint8_in_out
def randaugment(image, num_layers: int, magnitude: float, seed):
    """RandAugment: `num_layers` ops drawn uniformly from RANDAUGMENT_OPS, all at `magnitude`."""
    ops = [_op(name, magnitude, RANDAUGMENT_CONSTS) for name in RANDAUGMENT_OPS]
    for layer_seed in tf.unstack(tf.random.experimental.stateless_split(seed, num_layers)):
        select_seed, op_seed = tf.unstack(tf.random.experimental.stateless_split(layer_seed, 2))
        index = tf.random.stateless_uniform([], select_seed, 0, len(ops), tf.int32)
        image = tf.switch_case(index, [lambda f=f, im=image: f(im, op_seed) for f in ops])
    return image


def _beta(shape, alpha: float, seed):
    a_seed, b_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    a = tf.random.stateless_gamma(shape, a_seed, alpha)
    b = tf.random.stateless_gamma(shape, b_seed, alpha)
    return a / (a + b)


def mixup(images, labels, alpha: float, seed):
    """Mix each example with the batch reversed, weight max(l, 1-l), l ~ Beta(alpha, alpha) (reference)."""
    weight = _beta([tf.shape(images)[0]], alpha, seed)
    weight = tf.maximum(weight, 1.0 - weight)
    images = _mix(images, images[::-1], weight[:, None, None, None])
    return images, _mix(labels, labels[::-1], weight[:, None])


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
