"""TFLite exports: float32 matches Keras, the quantized ones shrink, full-integer int8 keeps top-1."""
import functools
import os
import subprocess
import sys
import tempfile
import warnings

import ai_edge_litert.interpreter

from pathlib import Path

import keras
import numpy as np
import pytest

from efficientnet_tf.serving.held_out import agreement, held_out
from efficientnet_tf.serving.tflite import TFLiteModel, convert, export_variants
from export_helpers import (CLASSES, SIZE, TRAIN_SIZE, holdout_batch, object_source, tiny_export, tiny_model,
                            trained_run_dir)
from efficientnet_tf.serving.saved_model import export_saved_model
from efficientnet_tf.serving.loading import load_keras_model

LITE_SIZE = 64  # at 32 px Lite0 reached only 0.53 top-1 in these steps (int8 agreement 0.83)


@functools.cache
def _tiny_tflite(quantization: str) -> bytes:
    """Each conversion of the tiny export once per run: a conversion takes several seconds."""
    return convert(tiny_export(), quantization)


def test_float32_agrees_with_keras_at_any_batch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # TensorFlow's own interpreter warns that it is deprecated; LiteRT does not
        runner = TFLiteModel(_tiny_tflite("float32"))
    assert isinstance(runner.interpreter, ai_edge_litert.interpreter.Interpreter)
    for batch in (1, 5):
        images = np.random.default_rng(batch).uniform(0, 255, (batch, SIZE, SIZE, 3)).astype(np.float32)
        got = runner(images)
        assert got.shape == (batch, CLASSES) and got.dtype == np.float32
        np.testing.assert_allclose(got, tiny_model()(images, training=False), atol=1e-4, rtol=0)


def test_float16_and_dynamic_shrink_the_file_and_keep_the_outputs():
    images = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    sizes = {q: len(_tiny_tflite(q)) for q in ("float32", "float16", "dynamic")}
    assert 0.45 < sizes["float16"] / sizes["float32"] < 0.55
    assert sizes["dynamic"] / sizes["float32"] < 0.3
    half = agreement(tiny_model(), TFLiteModel(_tiny_tflite("float16")), images)
    assert half["max_abs_diff"] < 1e-3


def test_int8_needs_representative_data():
    with pytest.raises(ValueError, match="representative_data"):
        convert(tiny_export(), "int8")


@pytest.mark.slow
def test_full_integer_int8_keeps_top1_of_a_trained_model(tmp_path):
    run = trained_run_dir()
    model = load_keras_model(run)
    rows = export_variants(model, f"{run}/saved_model", ["float32", "int8"],
                           held_out(object_source(), TRAIN_SIZE, num_images=200))
    by = {r["quantization"]: r for r in rows}
    assert by["float32"]["top1_agreement"] == 1.0 and by["float32"]["max_abs_diff"] < 1e-4
    assert by["int8"]["top1_agreement"] >= 0.9, by["int8"]
    assert by["int8"]["bytes"] < 0.4 * by["float32"]["bytes"]  # small model: fixed overhead
    int8 = TFLiteModel(by["int8"]["path"])
    assert int8.input["dtype"] == np.uint8  # full-integer: uint8 images in
    images, labels = holdout_batch()
    assert np.mean(int8(images).argmax(-1) == labels) >= np.mean(model.predict(images, verbose=0).argmax(-1) == labels) - 0.1


def _trained_lite0(size: int) -> keras.Model:
    """The full EfficientNet-Lite0, trained from scratch exactly as export_helpers trains its slim model
    (same child process with op determinism, data and steps), with the builder swapped in."""
    path = os.path.join(tempfile.mkdtemp(prefix="etf_lite0_"), "lite0.keras")
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import export_helpers as h; "
            "import efficientnet_tf as et; h.EfficientNet = lambda w, d, s, name, **k: et.EfficientNetLite0(**k); "
            f"h.train_object_model({object_source(size)!r}, {size}, {path!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return keras.saving.load_model(path, safe_mode=True)


@pytest.mark.slow
def test_lite0_full_integer_int8_top1_agreement(tmp_path, capsys):
    model = _trained_lite0(LITE_SIZE)
    assert model.name == "efficientnetlite0" and not any("_se_" in layer.name for layer in model.layers)
    saved = export_saved_model(model, tmp_path / "saved_model")
    photos = object_source(LITE_SIZE).removeprefix("folder:")  # as a plain folder: any depth, labels unused
    held = held_out(photos, LITE_SIZE, num_images=100)
    assert held.source == f"{photos}: 100 calibration and 60 check images" and held.check.shape == (60, 64, 64, 3)
    (row,) = export_variants(model, saved, ["int8"], held)
    with capsys.disabled():
        print(f"\nLite0 int8 at {LITE_SIZE} px: top-1 agreement {row['top1_agreement']:.2f}, "
              f"max |p diff| {row['max_abs_diff']:.3f}, {row['bytes']} bytes")
    assert TFLiteModel(row["path"]).input["dtype"] == np.uint8
    assert row["top1_agreement"] >= 0.9, row


def test_no_deprecated_interpreter_left():
    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("efficientnet_tf/**/*.py"), *root.glob("tests/*.py"), *(f for f in root.glob("benchmarks/*") if f.is_file()),
             *root.glob("notebooks/*.ipynb")]
    needle = "tf.lite." + "Interpreter"  # split, so this file does not find itself
    assert len(files) > 100 and not [f.name for f in files if needle in f.read_text(encoding="utf-8")]
