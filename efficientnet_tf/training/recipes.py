"""Recipes: presets over the reference defaults, how ``--recipe auto`` picks one, and dataset names.

- ``reference``: the dataclass defaults (tensorflow/tpu efficientnet ``main.py``) plus the reference's
  minival: the first 20 of the 1,024 train files (25,022 images) for TFRecords, 25,022 records for
  TFDS and folders, which have no such files.
- ``digits``: tuned to finish on 2 CPU cores in a few minutes (see :data:`DIGITS`).
- ``none``: the dataclass defaults alone (the reference optimizer and regularization, no holdout).
- ``v2``: ``reference`` plus EfficientNetV2's progressive learning, 4 stages over the ranges of its
  Table 6 (:data:`TABLE6`), for the variants it has a row for; the V2 paper keeps the V1 optimizer.

``auto`` picks ``digits`` for the digits source; ``reference`` when the dataset's path or TFDS name
contains ``imagenet``, or when a TFRecord directory holds the 1,024 train files of the ImageNet
layout; ``none`` otherwise. :func:`choose` says which and why.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import tensorflow as tf

from efficientnet_tf.data.config import RANDAUGMENT_MAGNITUDE
from efficientnet_tf.files import join
from efficientnet_tf.models.variants import get_variant

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
# EfficientNetV2 Table 6: (first stage, last stage) of each setting progressive learning raises.
TABLE6: Dict[str, Dict[str, Tuple[float, float]]] = {
    "v2-s": {"image_size": (128, 300), "randaugment_magnitude": (5, 15), "mixup": (0, 0), "dropout_rate": (0.1, 0.3)},
    "v2-m": {"image_size": (128, 380), "randaugment_magnitude": (5, 20), "mixup": (0, 0.2), "dropout_rate": (0.1, 0.4)},
    "v2-l": {"image_size": (128, 380), "randaugment_magnitude": (5, 25), "mixup": (0, 0.4), "dropout_rate": (0.1, 0.5)},
}
V2_STAGES = 4  # of about 87 epochs each in the paper's 350
RECIPES = ("reference", "digits", "none", "v2")


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
    if kind != "tfrecord" or not tf.io.gfile.isdir(rest):
        return False
    suffix = f"-of-{IMAGENET_TRAIN_FILES:05d}"
    files = [f for p in ("train-*", "*-train.tfrecord-*") for f in tf.io.gfile.glob(join(rest, p + suffix))]
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


def v2(model: str) -> Dict[str, Any]:
    """Table 6's ranges for ``model`` as config values: the minimums for its first stage, the maximums
    as the run's own settings (the last stage's; evaluation stays at the variant's resolution)."""
    try:
        name = get_variant(model).name
    except ValueError:
        name = model
    if name not in TABLE6:
        raise ValueError(f"recipe v2 has Table 6 ranges for {', '.join(TABLE6)} only, not {model!r}")
    low = {k: lo for k, (lo, _) in TABLE6[name].items()}
    high = {k: hi for k, (_, hi) in TABLE6[name].items()}
    return {"progressive": {"stages": V2_STAGES, "max_image_size": high["image_size"],
                            **{f"min_{k}": v for k, v in low.items()}},
            "data": {"augment": "randaugment", "randaugment_magnitude": high["randaugment_magnitude"],
                     "mixup": high["mixup"]},
            "model": {"dropout_rate": high["dropout_rate"]}}


def preset(recipe: str, dataset: str, model: str) -> Dict[str, Any]:
    """The recipe's values for ``dataset`` and the variant ``model``."""
    if recipe == "digits":
        return DIGITS
    if recipe == "v2":
        settings = v2(model)
        settings["data"].update(preset("reference", dataset, model)["data"])
        return settings
    if recipe == "reference":
        if dataset.startswith("tfrecord:"):
            return {"data": {"holdout_shards": REFERENCE_HOLDOUT_SHARDS}}
        return {"data": {"holdout": REFERENCE_HOLDOUT_RECORDS}}
    return {}
