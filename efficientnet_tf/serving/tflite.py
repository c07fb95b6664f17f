"""TFLite export (float32, float16, dynamic-range int8, full-integer int8) and a small runner on
LiteRT (``ai-edge-litert``, which replaces TensorFlow's deprecated interpreter).

Quantization can silently cost accuracy (tensorflow/tpu#549 lost 15+ top-1 points in int8), so
:func:`agreement` compares any export with the Keras model on held-out images.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable, List, Optional

import keras
import numpy as np
import tensorflow as tf

from efficientnet_tf.files import atomic_output
from efficientnet_tf.serving.held_out import HeldOut, agreement
from efficientnet_tf.serving.saved_model import export_saved_model

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


def convert(
    source,
    quantization: str = "float32",
    representative_data: Optional[Iterable[np.ndarray]] = None,
    image_size: Optional[int] = None,
    batch_size: Optional[int] = None,
) -> bytes:
    """A ``.tflite`` flatbuffer of ``serving_default``: float32 0-255 images [batch, H, W, 3] in, probabilities out.

    ``source`` is a SavedModel directory written by :func:`export_saved_model` or a Keras model
    (exported to a temporary one first: converting a concrete function directly leaves Keras 3
    variables unfrozen and gives NaN). ``int8`` is full-integer (every op int8, uint8 images in,
    float32 probabilities out) and needs ``representative_data``: float32 ``[1, H, W, 3]``
    batches, e.g. :func:`~efficientnet_tf.serving.held_out.held_out`'s calibration images. ``dynamic`` stores int8
    weights and computes in float. ``batch_size`` (Keras source only) fixes the batch: the dynamic
    batch leaves Shape/Pack/Reshape ops in every squeeze-excite block, which split XNNPACK's graph
    and made float32 slower at batch 1 (19.4 against 13.5 ms here, on a loaded machine).
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    if quantization == "int8" and representative_data is None:
        raise ValueError("full-integer int8 needs representative_data (float32 [1, H, W, 3] batches)")
    if isinstance(source, keras.Model):
        with tempfile.TemporaryDirectory() as tmp:
            saved = export_saved_model(source, tmp, image_size=image_size, batch_size=batch_size)
            return convert(saved, quantization, representative_data)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(source), signature_keys=["serving_default"])
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        data = list(representative_data)
        converter.representative_dataset = lambda: ([x] for x in data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
    return converter.convert()


def export_tflite(source, path, quantization: str = "float32", **kwargs) -> str:
    """Writes :func:`convert`'s flatbuffer to ``path``, whole or not at all."""
    flatbuffer = convert(source, quantization, **kwargs)
    with atomic_output(path) as partial:
        Path(partial).write_bytes(flatbuffer)
    return str(path)


def litert_interpreter():
    """LiteRT's Interpreter class, or ImportError naming the package that brings it."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ImportError("running .tflite files needs LiteRT: pip install ai-edge-litert "
                          "(or efficientnet_tf[litert])") from None
    return Interpreter


class TFLiteModel:
    """Runs a ``.tflite`` file or flatbuffer with LiteRT on float32 0-255 images, quantizing integer
    inputs itself."""

    def __init__(self, model, num_threads: int = 2):
        content = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
        self.interpreter = litert_interpreter()(model_content=content, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_size = int(self.input["shape"][1])
        self.batch = None

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if images.shape[0] != self.batch:
            self.interpreter.resize_tensor_input(self.input["index"], images.shape)
            self.interpreter.allocate_tensors()
            self.batch = images.shape[0]
        dtype = self.input["dtype"]
        if dtype != np.float32:
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            images = np.clip(np.round(images / scale + zero), info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.input["index"], images)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if out.dtype != np.float32:
            scale, zero = self.output["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return out


def export_variants(model: keras.Model, saved_model_dir, quantizations, held: Optional[HeldOut] = None) -> List[dict]:
    """Writes ``<saved_model_dir>_<quantization>.tflite`` for each, converted from that SavedModel.

    With ``held`` (:func:`~efficientnet_tf.serving.held_out.held_out`), int8 is calibrated on its
    calibration images and every file's agreement with ``model`` is measured on its check images.
    """
    if "int8" in quantizations and held is None:
        raise ValueError("int8 needs --representative: a data source or a folder of images to calibrate on")
    rows = []
    for quantization in quantizations:
        path = f"{str(saved_model_dir).rstrip('/')}_{quantization}.tflite"
        export_tflite(saved_model_dir, path, quantization, representative_data=held and held.calibration)
        row = {"quantization": quantization, "path": path, "bytes": Path(path).stat().st_size}
        if held is not None:
            row.update(agreement(model, TFLiteModel(path), held.check))
        rows.append(row)
    return rows
