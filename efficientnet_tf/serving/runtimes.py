"""Predictions from an exported file on its own runtime: a ``.tflite`` on LiteRT, an ``.onnx`` on ONNX
Runtime or OpenVINO, fed by the same eval preprocessing as ``serving_bytes`` and answering in its form
(``probabilities``, ``top_k_classes``, ``top_k_scores``, ``top_k_labels``).

An export lies beside the SavedModel it came from (``OUT.onnx``, ``OUT_int8.tflite`` beside ``OUT/``),
whose ``assets.extra`` gives the class names and the eval crop; without one, a 1000-class model gets
ImageNet's names and every model the reference crop.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.run_dir import stored_class_names, stored_crop_padding
from efficientnet_tf.serving.onnx_export import ONNXModel
from efficientnet_tf.serving.saved_model import default_class_names
from efficientnet_tf.serving.tflite import QUANTIZATIONS, TFLiteModel

RUNTIMES = ("auto", "keras", "tflite", "onnxruntime", "openvino")
_FILE_RUNTIMES = {".tflite": ("tflite",), ".onnx": ("onnxruntime", "openvino")}


def runtime_for(path, runtime: str = "auto") -> str:
    """The runtime that serves ``path``: ``auto`` picks by the file's suffix (keras for anything else)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    suffix = Path(str(path)).suffix.lower() if path else ""
    allowed = _FILE_RUNTIMES.get(suffix, ("keras",))
    if runtime == "auto":
        return allowed[0]
    if runtime not in allowed:
        raise ValueError(f"--runtime {runtime} cannot serve {path}: it takes "
                         + ("a .tflite file" if runtime == "tflite" else
                            "an .onnx file" if runtime in ("onnxruntime", "openvino") else
                            "a .keras file, a run directory or a SavedModel"))
    return runtime


def export_source(path) -> Optional[Path]:
    """The SavedModel (or run) folder an exported file was written beside, if it is there."""
    path = Path(path)
    stem = re.sub(rf"_({'|'.join(QUANTIZATIONS)})$", "", path.stem)
    return next((d for d in (path.with_name(stem), path.parent) if d.is_dir()), None)


def file_classifier(path, runtime: str, precision: str = "f32", top_k: int = 5) -> Callable:
    """A function like ``serving_bytes``: ``image_bytes`` (string [batch]) -> its outputs, as numpy-backed tensors."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if runtime == "tflite":
        if precision != "f32":
            raise ValueError("a .tflite file runs at the precision it was converted to: leave --precision out")
        runner = TFLiteModel(path)
    else:
        runner = ONNXModel(path, runtime, precision)
    source = export_source(path)
    crop = stored_crop_padding(source) if source else preprocessing.CROP_PADDING
    stored_names = stored_class_names(source) if source else None  # read once, not per request

    def classify(image_bytes):
        images = np.stack([preprocessing.preprocess_for_eval(b, runner.input_size, crop).numpy()
                           for b in np.asarray(image_bytes)])
        probs = np.asarray(runner(images), np.float32)
        names = default_class_names(probs.shape[-1], stored_names)
        classes = np.argsort(-probs, axis=-1, kind="stable")[:, :top_k]
        out = {"probabilities": probs, "top_k_classes": classes,
               "top_k_scores": np.take_along_axis(probs, classes, -1)}
        if names is not None:
            out["top_k_labels"] = np.asarray(names, object)[classes].astype(bytes)
        return {k: tf.constant(v) for k, v in out.items()}

    return classify
