"""TFLite exports: float32 matches Keras, the quantized ones shrink, full-integer int8 keeps top-1."""
import numpy as np
import pytest

from efficientnet_tf.tflite import TFLiteModel, agreement, convert, export_variants
from export_helpers import CLASSES, SIZE, holdout_batch, object_source, tiny_export, tiny_model, trained_run_dir
from efficientnet_tf.export import load_keras_model


def test_float32_agrees_with_keras_at_any_batch():
    runner = TFLiteModel(convert(tiny_export(), "float32"))
    for batch in (1, 5):
        images = np.random.default_rng(batch).uniform(0, 255, (batch, SIZE, SIZE, 3)).astype(np.float32)
        got = runner(images)
        assert got.shape == (batch, CLASSES) and got.dtype == np.float32
        np.testing.assert_allclose(got, tiny_model()(images, training=False), atol=1e-4, rtol=0)


def test_float16_and_dynamic_shrink_the_file_and_keep_the_outputs():
    images = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    sizes = {q: len(convert(tiny_export(), q)) for q in ("float32", "float16", "dynamic")}
    assert 0.45 < sizes["float16"] / sizes["float32"] < 0.55
    assert sizes["dynamic"] / sizes["float32"] < 0.3
    half = agreement(tiny_model(), TFLiteModel(convert(tiny_export(), "float16")), images)
    assert half["max_abs_diff"] < 1e-3


def test_int8_needs_representative_data():
    with pytest.raises(ValueError, match="representative_data"):
        convert(tiny_export(), "int8")


@pytest.mark.slow
def test_full_integer_int8_keeps_top1_of_a_trained_model(tmp_path):
    run = trained_run_dir()
    model = load_keras_model(run)
    rows = export_variants(model, f"{run}/saved_model", ["float32", "int8"], representative_source=object_source(),
                           num_images=200)
    by = {r["quantization"]: r for r in rows}
    assert by["float32"]["top1_agreement"] == 1.0 and by["float32"]["max_abs_diff"] < 1e-4
    assert by["int8"]["top1_agreement"] >= 0.9, by["int8"]
    assert by["int8"]["bytes"] < 0.4 * by["float32"]["bytes"]  # small model: fixed overhead
    int8 = TFLiteModel(by["int8"]["path"])
    assert int8.input["dtype"] == np.uint8  # full-integer: uint8 images in
    images, labels = holdout_batch()
    assert np.mean(int8(images).argmax(-1) == labels) >= np.mean(model.predict(images, verbose=0).argmax(-1) == labels) - 0.1
