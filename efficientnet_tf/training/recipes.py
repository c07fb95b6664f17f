"""Recipes: presets over the reference defaults, how ``--recipe auto`` picks one, and dataset names.

- ``reference``: the dataclass defaults (tensorflow/tpu efficientnet ``main.py``) plus the reference's
  minival: the first 20 of the 1,024 train files (25,022 images) for TFRecords, 25,022 records for
  TFDS and folders, which have no such files.
- ``digits``: tuned to finish on 2 CPU cores in a few minutes (see :data:`DIGITS`).
- ``none``: the dataclass defaults alone (the reference optimizer and regularization, no holdout).

``auto`` picks ``digits`` for the digits source; ``reference`` when the dataset's path or TFDS name
contains ``imagenet``, or when a TFRecord directory holds the 1,024 train files of the ImageNet
layout; ``none`` otherwise. :func:`choose` says which and why.
"""
from __future__ import annotations

import glob
import os
from typing import Any, Dict, Tuple

from efficientnet_tf.data.config import RANDAUGMENT_MAGNITUDE

REFERENCE_HOLDOUT_SHARDS = 20
REFERENCE_HOLDOUT_RECORDS = 25022  # what those 20 files hold
IMAGENET_TRAIN_FILES = 1024

# digits: 8x8 images upscaled to 32 px, 1,437 training images, batch 64 (22 steps an epoch).
DIGITS: Dict[str, Any] = {
    # BN momentum 0.9: with 0.99 the moving statistics lag a fast-changing short run by ~100 steps.
    "model": {"image_size": 32, "bn_momentum": 0.9},
    "data": {"deterministic": True},
    "batch_size": 64,
    "epochs": 40,
    "backup_every_steps": 100,
    "optimizer": {"base_lr": 0.003, "schedule": "cosine", "warmup_epochs": 2.0, "ema_decay": 0.999},
}
RECIPES = ("reference", "digits", "none")


def randaugment_magnitude(variant: str) -> float:
    """The reference's RandAugment magnitude: 17 for B5, 28 for B7/B8, the data default elsewhere (N=2 throughout)."""
    return {"b5": 17.0, "b7": 28.0, "b8": 28.0}.get(variant, RANDAUGMENT_MAGNITUDE)


def dataset_name(dataset: str) -> str:
    """``tfrecord:/data/imagenet`` -> imagenet, ``tfds:imagenet2012:validation`` -> imagenet2012; never empty."""
    kind, _, rest = dataset.partition(":")
    if kind == "tfds":
        name = rest.split(":")[0].split("/")[0]
    else:
        parts = [p for p in (rest or kind).replace("\\", "/").split("/") if p and not any(c in p for c in "*?[{")]
        name = parts[-1] if parts else ""
    return name or kind or "data"


def _imagenet_layout(dataset: str) -> bool:
    kind, _, rest = dataset.partition(":")
    if kind != "tfrecord" or not os.path.isdir(rest):
        return False
    suffix = f"-of-{IMAGENET_TRAIN_FILES:05d}"
    files = glob.glob(os.path.join(rest, "train-*" + suffix)) + glob.glob(os.path.join(rest, "*-train.tfrecord-*" + suffix))
    return len(files) == IMAGENET_TRAIN_FILES


def choose(requested: str, dataset: str) -> Tuple[str, str]:
    """(recipe, why): ``requested`` unless it is ``auto``, else the detected one."""
    if requested != "auto":
        if requested not in RECIPES:
            raise ValueError(f"unknown recipe {requested!r}: auto, {', '.join(RECIPES)}")
        return requested, "--recipe"
    if dataset == "digits":
        return "digits", "auto: the digits source"
    if "imagenet" in dataset.lower():
        return "reference", "auto: 'imagenet' in the dataset name"
    if _imagenet_layout(dataset):
        return "reference", f"auto: {IMAGENET_TRAIN_FILES} train files (the ImageNet layout)"
    return "none", "auto: not digits or ImageNet (the reference defaults without a holdout)"


def preset(recipe: str, dataset: str) -> Dict[str, Any]:
    if recipe == "digits":
        return DIGITS
    if recipe == "reference":
        if dataset.startswith("tfrecord:"):
            return {"data": {"holdout_shards": REFERENCE_HOLDOUT_SHARDS}}
        return {"data": {"holdout": REFERENCE_HOLDOUT_RECORDS}}
    return {}
