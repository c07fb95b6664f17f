"""keras.applications.efficientnet's ``preprocess_input`` and ``decode_predictions``, offline.

The class index (``assets/imagenet_class_index.txt``: line i holds class i's WordNet ID and keras'
short name) is package data, so decoding never downloads keras' ``imagenet_class_index.json``.
The long names in ``assets/imagenet_classes.txt`` stay the serving labels.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Tuple

import numpy as np

CLASS_INDEX_PATH = Path(__file__).parents[1] / "assets" / "imagenet_class_index.txt"
NUM_CLASSES = 1000


def preprocess_input(x, data_format=None):
    """Returns ``x`` unchanged, as keras' EfficientNet one does: the models normalize 0-255 inputs themselves."""
    return x


@functools.lru_cache(maxsize=1)
def class_index() -> Tuple[Tuple[str, str], ...]:
    """(WNID, keras name) for classes 0..999."""
    rows = tuple(tuple(line.split(" ")) for line in CLASS_INDEX_PATH.read_text(encoding="utf-8").splitlines())
    if len(rows) != NUM_CLASSES or any(len(r) != 2 for r in rows):
        raise ValueError(f"{CLASS_INDEX_PATH} must hold {NUM_CLASSES} lines of 'wnid name'")
    return rows


def decode_predictions(preds, top: int = 5) -> List[List[Tuple[str, str, float]]]:
    """Per image, the ``top`` classes as ``(wnid, keras_name, score)``, best first (keras' format)."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"decode_predictions expects a batch of predictions of shape (samples, {NUM_CLASSES}), got {preds.shape}"
        )
    if not 1 <= int(top) <= NUM_CLASSES:
        raise ValueError(f"top must be in [1, {NUM_CLASSES}], got {top}")
    index = class_index()
    results = []
    for pred in preds:
        best = np.argsort(-pred, kind="stable")[: int(top)]
        results.append([index[i] + (pred[i],) for i in best])
    return results
