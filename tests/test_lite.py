"""EfficientNet-Lite0..4 and the input normalizations of the published weight families."""
import keras
import numpy as np
import pytest

import efficientnet_tf as et

# tensorflow/tpu lite/efficientnet_lite_builder_test.py: trainable parameters (no BN moving statistics).
REFERENCE_TRAINABLE = {
    "lite0": 4_652_008, "lite1": 5_416_680, "lite2": 6_092_072, "lite3": 8_197_096, "lite4": 13_006_568,
}
LITE = tuple(REFERENCE_TRAINABLE)


@pytest.mark.parametrize("variant", LITE)
def test_trainable_counts_equal_the_reference(variant):
    model = et.create_model(variant)
    assert et.profile(model).trainable_params == REFERENCE_TRAINABLE[variant]
    assert model.input_shape == (None,) + (et.get_variant(variant).resolution,) * 2 + (3,)


def test_lite4_architecture():
    model = et.EfficientNetLite4(include_top=False, input_shape=(64, 64, 3))
    names = [l.name for l in model.layers]
    assert not [n for n in names if "_se_" in n]
    assert model.get_layer("stem_conv").filters == 32  # round_filters(32, 1.4) would be 48
    assert model.get_layer("top_conv").filters == 1280
    # The stem is fixed, so block1a's depthwise runs on the stem's 32 channels, not 48.
    assert tuple(model.get_layer("block1a_dwconv").kernel.shape) == (3, 3, 32, 1)
    assert model.get_layer("block1a_project_conv").filters == 24  # round_filters(16, 1.4)
    # First and last stages keep 1 block; the others scale by ceil(1.8 * r).
    stage_blocks = {s: len({n[:7] for n in names if n.startswith(f"block{s}") and n.endswith("_bn")}) for s in range(1, 8)}
    assert stage_blocks == {1: 1, 2: 4, 3: 4, 4: 6, 5: 6, 6: 8, 7: 1}
    acts = {l.activation.__name__ for l in model.layers if isinstance(l, keras.layers.Activation)}
    assert acts == {"relu6"}
    assert model.get_layer("normalization").mode == "lite"


def _normalized(model, value, channels=3):
    x = np.full((1, 32, 32, channels), value, "float32")
    return np.asarray(model.get_layer("normalization")(x))[0, 0, 0]


@pytest.mark.parametrize("mode, expected", [
    ("imagenet", lambda v: (v / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])),
    ("advprop", lambda v: np.full(3, (v - 127.5) / 127.5)),
    ("lite", lambda v: np.full(3, (v - 127.0) / 128.0)),
])
def test_normalization_modes(mode, expected):
    model = et.EfficientNetB0(include_top=False, input_shape=(32, 32, 3), normalization=mode)
    for v in (0.0, 127.0, 255.0):
        np.testing.assert_allclose(_normalized(model, v), expected(v), rtol=1e-5, atol=1e-6)
    norm = model.get_layer("normalization")
    assert norm.count_params() == 7 and not norm.trainable_weights  # mean 3, variance 3, count 1


def test_normalization_defaults_and_bad_mode(tmp_path):
    assert et.EfficientNetB0(input_shape=(32, 32, 3)).get_layer("normalization").mode == "imagenet"
    lite = et.EfficientNetLite0(input_shape=(32, 32, 3), normalization="advprop", classes=2)
    assert lite.get_layer("normalization").mode == "advprop"
    lite.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(_normalized(loaded, 255.0), np.ones(3), rtol=1e-6)
    assert loaded.get_layer("normalization").get_config()["mode"] == "advprop"
    with pytest.raises(ValueError, match="normalization must be one of"):
        et.EfficientNetB0(normalization="caffe")


def test_lite_registry_and_summary_rows(capsys):
    assert et.list_variants(v2=False)[-5:] == LITE and "lite0" not in et.list_variants(lite=False)
    assert et.get_variant("efficientnet-lite3") == et.get_variant("EfficientNetLite3") == et.get_variant("lite3")
    assert et.get_variant("lite3").resolution == 280 and et.EfficientNetLite3.__name__ == "EfficientNetLite3"
    assert et.create_model("lite2", include_top=False).name == "efficientnetlite2"
    from efficientnet_tf.scaling.summary import format_table, summary_rows

    rows = summary_rows(["lite0"])
    assert rows[0]["params"] == 4_694_031 and rows[0]["model"] == "lite0"
    table = format_table(rows)
    assert "4,694,031" in table and "nan" not in table
