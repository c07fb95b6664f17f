"""Shared, cached fixtures for the export/TFLite/CAM/CLI tests: small models and synthetic images.

Cached per process (functools.cache) so that each model is built, exported or trained once per run.
"""
import functools
import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from efficientnet_tf import EfficientNet, create_model
from efficientnet_tf.data import PipelineConfig, build_dataset
from efficientnet_tf.serving.saved_model import export_saved_model
from efficientnet_tf.preprocessing import CROP_PADDING
from efficientnet_tf.run_dir import RunDir
from tests.data_helpers import encode  # noqa: F401 -- the tests' one image encoder, re-exported

SIZE = 32
CLASSES = 5
NAMES = ["blue", "green", "magenta", "red", "yellow"]  # sorted, as the folder source numbers classes
COLOURS = np.array([[30, 30, 220], [30, 200, 30], [210, 30, 210], [220, 30, 30], [230, 220, 30]], np.uint8)
TRAIN_SIZE = 128  # the export/int8/predict model: a 4 x 4 map of last conv features
CAM_SIZE = 256  # the CAM model: an 8 x 8 map (at 128 px every cell of the 4 x 4 map is a border cell)
BACKGROUND = 118  # blank gray near the normalization mean, so the convs' zero padding looks like background, not an edge
STEPS = 60
TRAIN_PER_CLASS = 40


def random_image(height=48, width=64, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@functools.cache
def tiny_model() -> keras.Model:
    """Untrained B0 at 32 px with 5 classes: enough for shapes, specs and numerical equality."""
    keras.utils.set_random_seed(0)
    return create_model("b0", input_shape=(SIZE, SIZE, 3), classes=CLASSES)


@functools.cache
def tiny_export() -> str:
    path = os.path.join(tempfile.mkdtemp(prefix="etf_export_"), "saved_model")
    return export_saved_model(tiny_model(), path, class_names=NAMES)


@functools.cache
def tiny_loaded():
    """The TF2 reload of :func:`tiny_export`, shared like one served model answering many requests."""
    return tf.saved_model.load(tiny_export())


def object_image(box, colour: int, size: int) -> np.ndarray:
    """A blank background with one coloured square at ``box`` = (top, left, side)."""
    image = np.full((size, size, 3), BACKGROUND, np.uint8)
    top, left, side = box
    image[top : top + side, left : left + side] = COLOURS[colour]
    return image


def _sides(size: int):
    """Object sides on a ``size`` canvas: 3/16 to 5/16 of it (1.5 to 2.5 feature cells)."""
    return size * 3 // 16, size * 5 // 16 + 1


def random_boxes(n: int, seed: int, size: int):
    """``n`` (top, left, side) squares anywhere on a ``size`` canvas."""
    rng = np.random.default_rng(seed)
    sides = rng.integers(*_sides(size), n)
    return [(int(t), int(l), int(s)) for s, (t, l) in zip(sides, (rng.integers(0, size - s + 1, 2) for s in sides))]


def _write_object_folder(root: Path, per_class: int, seed: int, size: int) -> None:
    """Files CROP_PADDING larger than ``size``: the pipeline's eval crop is their centre, at 1:1."""
    rng, pad = np.random.default_rng(seed), CROP_PADDING // 2
    for colour, name in enumerate(NAMES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            side = int(rng.integers(*_sides(size)))
            top, left = rng.integers(pad, size + pad - side + 1, size=2)  # anywhere in the eval crop
            image = object_image((top, left, side), colour, size + CROP_PADDING)
            Image.fromarray(image).save(root / name / f"{i}.png")


@functools.cache
def object_source(size: int = TRAIN_SIZE) -> str:
    """A ``folder:`` data pipeline source of coloured squares on a blank background, train/validation."""
    root = Path(tempfile.mkdtemp(prefix="etf_objects_"))
    _write_object_folder(root / "train", TRAIN_PER_CLASS, 1, size)
    _write_object_folder(root / "validation", 20, 2, size)
    return f"folder:{root}"


def train_object_model(source: str, size: int, path: str) -> None:
    """Trains the slim test model and saves it; run by :func:`trained_object_model` in a child process."""
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    model = EfficientNet(0.5, 0.3, size, dropout_rate=0.0, drop_connect_rate=0.0, name="slim",
                         input_shape=(size, size, 3), classes=CLASSES)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.7
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    # The eval crop (the whole object in view, at 1:1), shuffled: the folder source reads class by class.
    ds, _ = build_dataset(source, "train", size, 16, training=False, config=PipelineConfig(deterministic=True))
    ds = ds.unbatch().cache().shuffle(CLASSES * TRAIN_PER_CLASS, seed=0).batch(16).repeat()
    model.fit(ds, steps_per_epoch=STEPS, epochs=1, verbose=0)
    model.save(path)


@functools.cache
def trained_object_model(size: int = TRAIN_SIZE) -> keras.Model:
    """A slim EfficientNet (B0's blocks at half width, one repeat each), trained a few dozen steps
    with plain ``model.fit`` at ``size`` px on :func:`object_source`.

    Slim so that a few steps on 2 cores teach it the objects; batch-norm momentum is lowered so
    that the moving statistics catch up within those steps. Trained in a child process with TF's
    op determinism on, so that every run tests the same weights: thread-order noise otherwise
    gives a different model each time, and int8 agreement varied from 0.88 to 0.97 between them.
    """
    import subprocess
    import sys

    path = os.path.join(tempfile.mkdtemp(prefix="etf_slim_"), "slim.keras")
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import export_helpers as h; "
            f"h.train_object_model({object_source(size)!r}, {size}, {path!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return keras.saving.load_model(path, safe_mode=True)


def holdout_batch(n: int = 100):
    """(images, labels) of the validation split, through the data pipeline."""
    ds, _ = build_dataset(object_source(), "validation", TRAIN_SIZE, n, training=False)
    images, labels = next(iter(ds))
    return images.numpy(), labels.numpy()


@functools.cache
def trained_run_dir() -> str:
    """A training run's layout, through run_dir: ``model.keras`` and ``saved_model/``, both holding the class names."""
    run = RunDir(tempfile.mkdtemp(prefix="etf_run_"))
    model = trained_object_model()
    run.save_model(model, NAMES)
    export_saved_model(model, run.saved_model, class_names=NAMES)
    return str(run.root)
