"""AutoAugment (policy v0) and RandAugment as TF ops that run inside ``tf.data``.

Policies and magnitudes follow tensorflow/tpu ``efficientnet/autoaugment.py``: levels are on the
reference's 0-10 scale (``MAX_LEVEL``; RandAugment magnitudes above 10, e.g. 17 for B5 and 28 for
B7 as the reference README suggests, extrapolate the same linear maps), rotate/shear/translate
flip sign with probability 1/2, AutoAugment uses translate 250 px and cutout 100 px, RandAugment
translate 100 px and cutout 40 px, and a RandAugment layer applies its chosen op unconditionally.
The ops themselves, and where they differ from the reference, are in :mod:`.image_ops`; mixup and
cutmix, which act on batches, in :mod:`.mixing`.

Every op gets a stateless seed, so a run with a fixed seed is reproducible, and only the selected
op executes (``tf.switch_case``). Keras 3's preprocessing layers were not reused:
``keras.layers.RandAugment`` runs ~30 img/s, the single layers draw their own unseeded randomness
and clamp factors to ranges that cannot express the reference's magnitudes above 10.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, Tuple

import tensorflow as tf

from efficientnet_tf.data.image_ops import (autocontrast, brightness, color, contrast, cutout, equalize, invert,
                                            posterize, rotate, sharpness, shear_x, shear_y, solarize, solarize_add,
                                            translate_x, translate_y)

MAX_LEVEL = 10.0

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


def _random_sign(value, seed):
    return tf.where(tf.random.stateless_uniform([], seed) < 0.5, -value, value)


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
