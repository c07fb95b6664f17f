"""ONNX export through Keras' own ``model.export(format="onnx")`` (tf2onnx underneath), run with ONNX
Runtime or OpenVINO: float32 0-255 NHWC images in (dynamic batch, the normalization inside the graph),
probabilities out, as ``serving_default``. Both runtimes are extras: ``efficientnet_tf[onnx]``,
``efficientnet_tf[openvino]``.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import keras
import numpy as np

from efficientnet_tf.files import atomic_output

RUNTIMES = ("onnxruntime", "openvino")
PRECISIONS = ("f32", "bf16")  # OpenVINO's inference precision; ONNX Runtime computes in f32
_EXTRA = {"tf2onnx": "onnx", "onnxruntime": "onnx", "openvino": "openvino"}


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"this needs {module}: pip install efficientnet_tf[{_EXTRA[module]}]") from None


def export_onnx(model: keras.Model, path) -> str:
    """Writes ``model`` as an ONNX file at ``path``, whole or not at all."""
    _require("tf2onnx")
    model(np.zeros((1, *model.inputs[0].shape[1:]), np.float32))  # Keras' ONNX export refuses a model never called
    with atomic_output(path) as partial, contextlib.redirect_stdout(io.StringIO()):
        model.export(partial, format="onnx", verbose=False)
    return str(path)


class ONNXModel:
    """Runs an ``.onnx`` file on float32 0-255 images with ONNX Runtime or OpenVINO (``runtime``)."""

    def __init__(self, path, runtime: str = "onnxruntime", precision: str = "f32", num_threads: int = 0):
        if runtime not in RUNTIMES or precision not in PRECISIONS:
            raise ValueError(f"runtime must be one of {RUNTIMES} and precision one of {PRECISIONS}, "
                             f"got {runtime!r}, {precision!r}")
        if runtime == "onnxruntime" and precision != "f32":
            raise ValueError("ONNX Runtime runs this file in f32 only; bf16 is OpenVINO's")
        self.path, self.runtime = str(path), runtime
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        if runtime == "onnxruntime":
            ort = _require("onnxruntime")
            options = ort.SessionOptions()
            options.intra_op_num_threads = num_threads
            self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
            self.input_name = self.session.get_inputs()[0].name
            self.input_size = int(self.session.get_inputs()[0].shape[1])
        else:
            ov = _require("openvino")
            self.compiled = ov.Core().compile_model(self.path, "CPU", {"INFERENCE_PRECISION_HINT": precision})
            self.input_size = int(self.compiled.inputs[0].get_partial_shape()[1].get_length())

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if self.runtime == "onnxruntime":
            return self.session.run(None, {self.input_name: images})[0]
        return self.compiled(images)[self.compiled.outputs[0]]
