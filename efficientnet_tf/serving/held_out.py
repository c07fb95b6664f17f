"""Images an export is calibrated and checked on, and the check itself.

``--representative`` takes any data source (``digits``, ``tfrecord:...``, ``tfds:NAME``,
``folder:PATH`` with class sub-folders: calibration from its train split, the check on its validation
split) or a plain folder of images at any depth, without labels: one image in five, in sorted order,
is kept for the check and the rest calibrate. It is read before anything is written, so a bad
source fails at the start.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import List, Optional

import keras
import numpy as np
import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.data.folders import IMAGE_EXTENSIONS

CHECK_EVERY = 5  # a plain folder: every 5th image is held out for the agreement check


@dataclasses.dataclass
class HeldOut:
    calibration: List[np.ndarray]  # float32 [1, S, S, 3] 0-255 images, one at a time (TFLite's converter)
    check: np.ndarray  # float32 [N, S, S, 3] 0-255 images the exports are compared with Keras on
    source: str


def image_files(folder: str) -> List[str]:
    """Every image file under ``folder``, at any depth, sorted."""
    return sorted(os.path.join(root, f) for root, _, files in os.walk(folder)
                  for f in files if f.lower().endswith(IMAGE_EXTENSIONS))


def _decoded(files: List[str], image_size: int, crop_padding: int, skipped: List[str]) -> List[np.ndarray]:
    """The files through the eval crop; undecodable ones are left out and added to ``skipped``."""
    images = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        try:
            images.append(preprocessing.preprocess_for_eval(data, image_size, crop_padding).numpy())
        except tf.errors.InvalidArgumentError:
            skipped.append(path)
    return images


def from_folder(folder: str, image_size: int, num_images: int, crop_padding: int) -> HeldOut:
    files = image_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) in it or below")
    check = files[::CHECK_EVERY] if len(files) >= CHECK_EVERY else files
    held = set(check)
    calibrate = [f for f in files if f not in held] or files
    skipped: List[str] = []
    calibration = _decoded(calibrate[:num_images], image_size, crop_padding, skipped)
    checked = _decoded(check[:num_images], image_size, crop_padding, skipped)
    if not calibration or not checked:
        raise ValueError(f"{folder}: none of its {len(files)} image files decodes" if not (calibration or checked)
                         else f"{folder}: too few of its {len(files)} image files decode to calibrate and check")
    if skipped:
        print(f"held-out images: skipped {len(skipped)} undecodable file(s), e.g. {skipped[0]}", file=sys.stderr)
    return HeldOut([x[None] for x in calibration], np.stack(checked),
                   f"{folder}: {len(calibration)} calibration and {len(checked)} check images")


def from_source(source: str, image_size: int, num_images: int, data_dir: Optional[str]) -> HeldOut:
    from efficientnet_tf.data import PipelineConfig, build_dataset

    read = {"config": PipelineConfig(data_dir=data_dir), "image_dtype": tf.float32}  # float32: what exports take
    train, _ = build_dataset(source, "train", image_size, 32, training=False, **read)
    calibration = [x[None] for x in train.map(lambda x, *_: x).unbatch().take(num_images).as_numpy_iterator()]
    val, _ = build_dataset(source, "validation", image_size, num_images, training=False, **read)
    check = next(iter(val))[0].numpy()
    return HeldOut(calibration, check, f"{source}: {len(calibration)} train images calibrate, "
                   f"{len(check)} validation images check")


def held_out(source: str, image_size: int, num_images: int = 100, data_dir: Optional[str] = None,
             crop_padding: int = preprocessing.CROP_PADDING) -> HeldOut:
    """The calibration and check images of ``source`` (a data source or a plain folder), at ``image_size``."""
    if os.path.isdir(source):
        return from_folder(source, image_size, num_images, crop_padding)
    return from_source(source, image_size, num_images, data_dir)


def agreement(model: keras.Model, runner, images) -> dict:
    """Top-1 agreement and the largest probability difference between Keras and ``runner`` (any callable
    from float32 0-255 images to probabilities: TFLite, ONNX Runtime, OpenVINO) on ``images``."""
    expected = np.asarray(model(np.asarray(images, np.float32), training=False), np.float32)
    got = np.asarray(runner(images), np.float32)
    return {
        "top1_agreement": float(np.mean(expected.argmax(-1) == got.argmax(-1))),
        "max_abs_diff": float(np.abs(expected - got).max()),
    }
