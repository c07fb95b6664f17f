"""SavedModel export: both signatures through saved_model_cli (TF1 session) and a TF2 reload."""
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.serving.saved_model import default_class_names, export_saved_model, imagenet_class_names
from efficientnet_tf.run_dir import stored_class_names, stored_crop_padding
from efficientnet_tf.serving.loading import load_keras_model
from export_helpers import CLASSES, NAMES, SIZE, encode, random_image, tiny_export, tiny_loaded, tiny_model

SAVED_MODEL_CLI = str(Path(sys.executable).with_name("saved_model_cli"))


def _cli(*args) -> str:
    done = subprocess.run([SAVED_MODEL_CLI, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _signature_block(show: str, name: str) -> str:
    start = show.index(f"signature_def['{name}']")
    end = show.find("signature_def[", start + 1)
    return show[start : end if end > 0 else len(show)]


def test_saved_model_cli_show_lists_both_signatures_with_their_specs():
    show = _cli("show", "--dir", tiny_export(), "--all")
    default = _signature_block(show, "serving_default")
    assert "inputs['images']" in default
    assert "dtype: DT_FLOAT\n        shape: (-1, 32, 32, 3)" in default
    assert "outputs['probabilities']" in default and f"shape: (-1, {CLASSES})" in default
    served = _signature_block(show, "serving_bytes")
    assert "inputs['image_bytes']" in served and "dtype: DT_STRING\n        shape: (-1)" in served
    for output, dtype in [("probabilities", "DT_FLOAT"), ("top_k_classes", "DT_INT32"),
                          ("top_k_scores", "DT_FLOAT"), ("top_k_labels", "DT_STRING")]:
        block = served[served.index(f"outputs['{output}']"):]
        assert block.split("\n")[1].strip() == f"dtype: {dtype}", output
        assert block.split("\n")[2].strip() == f"shape: (-1, {CLASSES})", output


def test_saved_model_cli_run_on_npy_batch_equals_keras(tmp_path):
    images = np.random.default_rng(1).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", images)
    _cli("run", "--dir", tiny_export(), "--tag_set", "serve", "--signature_def", "serving_default",
         "--inputs", f"images={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out"))
    got = np.load(tmp_path / "out" / "probabilities.npy")
    np.testing.assert_allclose(got, tiny_model()(images, training=False), atol=1e-5, rtol=0)


def test_reloaded_signature_equals_keras_at_any_batch():
    serve = tiny_loaded().signatures["serving_default"]
    for batch in (1, 4):
        images = np.random.default_rng(batch).uniform(0, 255, (batch, SIZE, SIZE, 3)).astype(np.float32)
        got = serve(images=tf.constant(images))["probabilities"]
        assert got.dtype == tf.float32 and got.shape == (batch, CLASSES)
        np.testing.assert_allclose(got, tiny_model()(images, training=False), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "shape", [(2, SIZE, SIZE, 1), (SIZE, SIZE, 3), (2, SIZE + 1, SIZE, 3), (1, 2, SIZE, SIZE, 3)]
)
def test_serving_default_rejects_wrong_rank_or_channels_naming_the_spec(shape):
    serve = tiny_loaded().signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be float32 \[batch, 32, 32, 3\]"):
        serve(images=tf.zeros(shape))


@pytest.mark.parametrize("dtype", [tf.float64, tf.float16, tf.int32])
def test_serving_default_rejects_wrong_dtype(dtype):
    serve = tiny_loaded().signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor"):
        serve(images=tf.zeros((1, SIZE, SIZE, 3), dtype))


def test_serving_bytes_decodes_every_format_like_the_pipeline():
    image = random_image()
    cases = [("JPEG", "RGB"), ("PNG", "RGB"), ("JPEG", "L"), ("PNG", "L"), ("JPEG", "CMYK"), ("GIF", "P"), ("BMP", "RGB")]
    data = [encode(image, fmt, mode) for fmt, mode in cases]
    out = tiny_loaded().signatures["serving_bytes"](image_bytes=tf.constant(data))
    assert out["probabilities"].shape == (len(data), CLASSES)
    assert out["top_k_classes"].dtype == tf.int32 and out["top_k_scores"].shape == (len(data), CLASSES)
    expected = tiny_model()(tf.stack([preprocessing.preprocess_for_eval(d, SIZE) for d in data]), training=False)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5, rtol=0)
    top = np.argsort(-expected.numpy(), axis=-1)
    np.testing.assert_array_equal(out["top_k_labels"].numpy().astype(str), np.array(NAMES)[top])
    np.testing.assert_allclose(out["top_k_scores"], np.sort(expected.numpy(), -1)[:, ::-1], atol=1e-6)


def test_serving_bytes_crops_like_the_run_it_came_from(tmp_path):
    """A run validated on whole images (digits: crop_padding 0) serves whole images too, and says so."""
    keras.utils.set_random_seed(1)  # a linear model: its outputs follow every pixel of the crop
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    path = export_saved_model(model, tmp_path / "sm", crop_padding=0)
    assert stored_crop_padding(path) == 0 and stored_crop_padding(tiny_export()) == preprocessing.CROP_PADDING
    data = [encode(random_image(seed=s), "PNG") for s in range(3)]
    out = tf.saved_model.load(path).signatures["serving_bytes"](image_bytes=tf.constant(data))
    whole = model(tf.stack([preprocessing.preprocess_for_eval(d, SIZE, crop_padding=0) for d in data]))
    cropped = model(tf.stack([preprocessing.preprocess_for_eval(d, SIZE) for d in data]))
    np.testing.assert_allclose(out["probabilities"], whole, rtol=1e-4, atol=1e-4)
    assert np.abs(np.asarray(whole) - np.asarray(cropped)).max() > 1e-2


def test_serving_bytes_names_the_bad_element_and_keeps_serving():
    serve = tiny_loaded().signatures["serving_bytes"]
    good = encode(random_image(), "PNG")
    with pytest.raises(tf.errors.InvalidArgumentError, match="element 1 of the batch is not a JPEG, PNG, GIF or BMP"):
        serve(image_bytes=tf.constant([good, b"certainly not an image", good]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="element 0 of the batch"):
        serve(image_bytes=tf.constant([b""]))
    assert serve(image_bytes=tf.constant([good, good]))["probabilities"].shape == (2, CLASSES)


def test_class_names_ship_and_are_stored():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0].startswith("tench") and names[999].startswith("toilet tissue")
    assert default_class_names(1000) == names and default_class_names(5) is None
    assert stored_class_names(tiny_export()) == NAMES
    with pytest.raises(ValueError, match="3 class names for a model with 5 classes"):
        export_saved_model(tiny_model(), "/nonexistent", class_names=["a", "b", "c"])


def test_keras_files_load_in_safe_mode_only(tmp_path):
    tiny_model().save(tmp_path / "model.keras")
    loaded = load_keras_model(tmp_path)  # a run directory
    x = np.full((1, SIZE, SIZE, 3), 100.0, np.float32)
    np.testing.assert_allclose(loaded(x), tiny_model()(x), atol=1e-6)
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs)).save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        load_keras_model(tmp_path / "lambda.keras")
    tiny_model().save_weights(tmp_path / "model.weights.h5")
    with pytest.raises(ValueError, match="SECURITY.md"):
        load_keras_model(tmp_path / "model.weights.h5")
    with pytest.raises(FileNotFoundError, match="SavedModel"):
        load_keras_model(tiny_export())
