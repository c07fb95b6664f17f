import keras
import numpy as np
import pytest

import efficientnet_tf as et
from model_helpers import copy_weights, keras_app, randomize, random_images, write_official_h5


@pytest.fixture
def official_b0(tmp_path, monkeypatch):
    """An efficientnetb0.h5 / _notop.h5 pair in keras.applications' exact legacy layout, and
    keras.applications made to find them when asked for weights="imagenet" (it never downloads)."""
    top = keras_app("b0", weights=None)
    randomize(top, seed=5)
    write_official_h5(top, tmp_path / "efficientnetb0.h5")
    notop = keras_app("b0", weights=None, include_top=False)
    copy_weights(top, notop)
    write_official_h5(notop, tmp_path / "efficientnetb0_notop.h5")
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", lambda fname, *a, **k: str(tmp_path / fname))
    return tmp_path


@pytest.mark.parametrize("include_top", [True, False])
def test_official_h5_predictions_equal_keras_applications(official_b0, include_top):
    suffix = "" if include_top else "_notop"
    ref = keras_app("b0", weights="imagenet", include_top=include_top)
    ours = et.EfficientNetB0(weights=str(official_b0 / f"efficientnetb0{suffix}.h5"), include_top=include_top)
    x = random_images(2, 224, seed=4)
    a, b = np.asarray(ours(x)), np.asarray(ref(x))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
    # The official file's std-as-variance quirk did not leak into our normalization.
    np.testing.assert_allclose(np.asarray(ours.get_layer("normalization").variance), np.square([0.229, 0.224, 0.225]), rtol=1e-6)


def test_imagenet_looks_in_the_weights_dir(official_b0, monkeypatch):
    monkeypatch.setenv("EFFICIENTNET_TF_WEIGHTS_DIR", str(official_b0))
    ours = et.EfficientNetB0(weights="imagenet", include_top=False, pooling="avg")
    ref = keras_app("b0", weights="imagenet", include_top=False, pooling="avg")
    x = random_images(1, 224, seed=6)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(ref(x)), rtol=1e-4, atol=1e-5)


def test_imagenet_offline_without_a_file_names_the_url_and_the_manual_way(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFICIENTNET_TF_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as e:
        et.EfficientNetB2(weights="imagenet")
    assert str(e.value) == ("https://storage.googleapis.com/keras-applications/efficientnetb2.h5 is not cached and "
                            "EFFICIENTNET_TF_OFFLINE=1 forbids downloading it: unset it, or download it yourself "
                            "(extract a .tar.gz) and pass weights=PATH")


def test_top_file_loads_into_a_headless_model(official_b0):
    ours = et.EfficientNetB0(weights=str(official_b0 / "efficientnetb0.h5"), include_top=False)
    ref = keras_app("b0", weights="imagenet", include_top=False)
    np.testing.assert_array_equal(ours.get_layer("top_conv").get_weights()[0], ref.get_layer("top_conv").get_weights()[0])


def test_mismatched_file_fails_loudly_and_loads_nothing(official_b0):
    model = et.EfficientNetB0(classes=10)
    before = model.get_layer("stem_conv").get_weights()[0].copy()
    with pytest.raises(ValueError, match="'predictions' expects shapes"):
        et.EfficientNetB0(classes=10, weights=str(official_b0 / "efficientnetb0.h5"))
    with pytest.raises(ValueError, match="'predictions' is not in the file"):
        et.EfficientNetB0(weights=str(official_b0 / "efficientnetb0_notop.h5"))
    with pytest.raises(ValueError, match="does not fit"):
        et.EfficientNetB1(weights=str(official_b0 / "efficientnetb0.h5"))
    with pytest.raises(ValueError, match="classes=1000"):
        et.EfficientNetB0(weights="imagenet", classes=10)
    np.testing.assert_array_equal(model.get_layer("stem_conv").get_weights()[0], before)


def test_keras_weights_file_round_trip(tmp_path):
    src = et.EfficientNetB0(input_shape=(32, 32, 3), classes=3)
    randomize(src, seed=7)
    src.save_weights(tmp_path / "w.weights.h5")
    dst = et.EfficientNetB0(input_shape=(32, 32, 3), classes=3, weights=str(tmp_path / "w.weights.h5"))
    x = random_images(2, 32)
    np.testing.assert_array_equal(np.asarray(dst(x)), np.asarray(src(x)))
    with pytest.raises(ValueError):
        et.EfficientNetB0(input_shape=(32, 32, 3), classes=4, weights=str(tmp_path / "w.weights.h5"))


def test_bad_weights_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        et.EfficientNetB0(weights=str(tmp_path / "nope.h5"))
    (tmp_path / "w.txt").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported weights file"):
        et.EfficientNetB0(weights=str(tmp_path / "w.txt"))
    (tmp_path / "plain.h5").write_bytes(b"")
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(ValueError, match="not a legacy Keras HDF5"):
        et.EfficientNetB0(weights=str(tmp_path / "plain.h5"))
