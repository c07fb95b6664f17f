"""Top-k predictions for image files, from a ``.keras`` model, a run directory, a SavedModel, a variant
name, or an exported ``.tflite``/``.onnx`` file on its own runtime (:mod:`.runtimes`).

Every path goes through the ``serving_bytes`` computation (the data pipeline's eval
preprocessing), so the CLI, a loaded SavedModel and TF Serving give the same answers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import tensorflow as tf

from efficientnet_tf.serving import runtimes
from efficientnet_tf.serving.saved_model import TOP_K, serving_functions
from efficientnet_tf.run_dir import is_saved_model, stored_class_names
from efficientnet_tf.serving.loading import load_keras_model, serving_crop_padding

Prediction = List[Tuple[str, float]]


def bytes_classifier(model_dir=None, model=None, weights=None, image_size=None, top_k: int = TOP_K,
                     runtime: str = "auto", precision: str = "f32") -> Callable:
    """A function: string tensor [batch] of encoded images -> ``serving_bytes``' outputs.

    ``runtime`` (:data:`~efficientnet_tf.serving.runtimes.RUNTIMES`; ``auto`` by the file's suffix)
    serves an exported ``.tflite`` or ``.onnx`` file on its own runtime, at ``precision``
    (OpenVINO also runs ``bf16``).

    A directory holding both ``model.keras`` and ``saved_model/`` (a training run) is served from
    the ``.keras`` file, which loads with ``safe_mode=True``; a bare SavedModel is run as is
    (trusted sources only: it is code).
    """
    runtime = runtimes.runtime_for(model_dir, runtime)
    if runtime != "keras":
        return runtimes.file_classifier(model_dir, runtime, precision, top_k)
    if precision != "f32":
        raise ValueError(f"--precision {precision} needs --runtime openvino and an .onnx file")
    if model is None and is_saved_model(model_dir):
        return tf.saved_model.load(str(model_dir)).signatures["serving_bytes"]
    keras_model = load_keras_model(model_dir, model, weights, image_size)
    names = stored_class_names(model_dir) if model_dir else None
    crop_padding = serving_crop_padding(model_dir, model, weights)
    fn, spec = serving_functions(keras_model, names, image_size, top_k, crop_padding=crop_padding)["serving_bytes"]
    return tf.function(fn, input_signature=[spec])


def predict_files(classify: Callable, paths: Sequence, top_k: int = TOP_K) -> List[Prediction]:
    """``[(label, score)] * top_k`` per image file; labels are class indices when names are unknown."""
    data = tf.constant([Path(p).read_bytes() for p in paths])
    out = classify(image_bytes=data)
    scores = out["top_k_scores"].numpy()[:, :top_k]
    if "top_k_labels" in out:
        labels = [[l.decode("utf-8") for l in row] for row in out["top_k_labels"].numpy()[:, :top_k]]
    else:
        labels = [[f"class {c}" for c in row] for row in out["top_k_classes"].numpy()[:, :top_k]]
    return [list(zip(l, map(float, s))) for l, s in zip(labels, scores)]


def format_predictions(paths: Sequence, predictions: Sequence[Prediction]) -> str:
    lines = []
    for path, rows in zip(paths, predictions):
        lines.append(str(path))
        lines += [f"  {score:.4f}  {label}" for label, score in rows]
    return "\n".join(lines)
