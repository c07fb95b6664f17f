"""The layout of a run directory: the one place that names its artifacts, writes the stored labels and
crop, owns its checkpoint managers, and reads a finished run back.

::

    model_dir/
      config.json                 the resolved TrainConfig (rerun with --config)
      history.csv, metrics.json   one row per epoch; the final held-out figures
      training_curves.png, logs/  curves; TensorBoard (logs/train, logs/eval)
      backup/                     mid-epoch checkpoint, one kept, removed when the run completes
      checkpoints/                epoch-end checkpoints, three kept
      best/                       the best per-epoch eval top-1, one kept
      workers/<type>-<index>/     a non-chief worker's copy of all of the above
      model.keras                 the exported Keras model (loaded with safe_mode=True)
      assets.extra/               class_names.txt, crop_padding.txt: the labels and the eval crop
      saved_model/                the SavedModel, with its own assets.extra/ (the same two files)

The paths are strings, local or at a URL such as ``gs://bucket/runs/b0`` (:mod:`efficientnet_tf.files`).

Security: a SavedModel or legacy ``.h5`` is a program (TensorFlow's SECURITY.md); only ``.keras``
files are loaded here, with ``safe_mode=True``.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import keras
import tensorflow as tf

from efficientnet_tf import files, preprocessing
from efficientnet_tf.files import join

MODEL_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
ASSETS_EXTRA_DIR = "assets.extra"
CLASS_NAMES_FILE = "class_names.txt"
CROP_PADDING_FILE = "crop_padding.txt"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
CURVES_FILE = "training_curves.png"
LOGS_DIR = "logs"
WORKERS_DIR = "workers"
# Checkpoint kinds and how many of each are kept; resuming reads the newest of the first two.
CHECKPOINT_KEEP = {"backup": 1, "checkpoints": 3, "best": 1}
RESUME_FROM = ("backup", "checkpoints")


class RunDir:
    """Paths (strings) of one run's artifacts under ``root``, a local path or a URL."""

    def __init__(self, root):
        self.root = os.fspath(root)

    def __fspath__(self) -> str:
        return self.root

    model = property(lambda self: join(self.root, MODEL_FILE))
    saved_model = property(lambda self: join(self.root, SAVED_MODEL_DIR))
    config = property(lambda self: join(self.root, CONFIG_FILE))
    history = property(lambda self: join(self.root, HISTORY_FILE))
    metrics = property(lambda self: join(self.root, METRICS_FILE))
    curves = property(lambda self: join(self.root, CURVES_FILE))

    def logs(self, kind: str) -> str:
        """TensorBoard event folder: ``kind`` is ``train`` or ``eval``."""
        return join(self.root, LOGS_DIR, kind)

    def checkpoints(self, kind: str) -> str:
        if kind not in CHECKPOINT_KEEP:
            raise ValueError(f"unknown checkpoint kind {kind!r}; expected one of {sorted(CHECKPOINT_KEEP)}")
        return join(self.root, kind)

    def worker(self, task_type: str, task_id: int) -> "RunDir":
        """A non-chief worker's own run directory (all workers must save together)."""
        return RunDir(join(self.root, WORKERS_DIR, f"{task_type}-{task_id}"))

    def checkpoint_managers(self, checkpoint: tf.train.Checkpoint) -> Dict[str, tf.train.CheckpointManager]:
        return {kind: tf.train.CheckpointManager(checkpoint, self.checkpoints(kind), keep)
                for kind, keep in CHECKPOINT_KEEP.items()}

    def save_model(self, model: keras.Model, class_names: Optional[Sequence[str]] = None,
                   crop_padding: int = preprocessing.CROP_PADDING) -> str:
        """``model.keras`` plus the labels and eval crop it was validated with, next to it (Keras writes
        a ``.keras`` file to a URL itself)."""
        with files.atomic_output(self.model) as partial:
            model.save(partial)
        write_stored(self.root, class_names, crop_padding)
        return self.model


def newest_checkpoint(managers: Dict[str, tf.train.CheckpointManager]) -> Optional[str]:
    """The checkpoint a rerun resumes from: the highest step among ``backup/`` and ``checkpoints/``."""
    latest = [managers[kind].latest_checkpoint for kind in RESUME_FROM]
    latest = [p for p in latest if p]
    return max(latest, key=lambda p: int(p.rsplit("-", 1)[1])) if latest else None


def write_stored(directory, class_names: Optional[Sequence[str]], crop_padding: int) -> None:
    """``assets.extra/crop_padding.txt`` and, when known, ``assets.extra/class_names.txt`` (one per line)."""
    extra = join(directory, ASSETS_EXTRA_DIR)
    stored = {CROP_PADDING_FILE: [str(int(crop_padding))]}
    if class_names is not None:
        stored[CLASS_NAMES_FILE] = class_names
    for filename, lines in stored.items():
        files.write(join(extra, filename), "\n".join(lines) + "\n")


def is_saved_model(path) -> bool:
    return _is_file(join(path, "saved_model.pb"))


def _is_file(path: str) -> bool:
    return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)


def _stored(path, filename: str) -> Optional[List[str]]:
    """Lines of an ``assets.extra`` file in a SavedModel, a run directory or its ``saved_model/``."""
    for d in (path, join(path, SAVED_MODEL_DIR)):
        f = join(d, ASSETS_EXTRA_DIR, filename)
        if _is_file(f):
            with tf.io.gfile.GFile(f) as text:
                return text.read().splitlines()
    return None


def stored_class_names(path) -> Optional[List[str]]:
    return _stored(path, CLASS_NAMES_FILE)


def stored_crop_padding(path) -> int:
    lines = _stored(path, CROP_PADDING_FILE)
    return int(lines[0]) if lines else preprocessing.CROP_PADDING
