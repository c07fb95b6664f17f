"""Every check keras.applications' own suite makes of EfficientNetB0-B7, replayed on our builders.

Source: keras/src/applications/applications_test.py (Keras 3.15), MODEL_LIST's EfficientNet rows,
each test run in both image data formats. What keras' ``test_application_base`` checks with the
downloaded ImageNet weights and elephant picture (top-3 "African_elephant") needs the network, so
that case replays the rest: default-argument construction (``weights=None``), preprocess_input and
decode_predictions on its predictions, and the serialize/deserialize round trip. keras itself skips
that case in channels_first on a CPU: there it is replayed without the prediction.
Building B3-B7 seven times per format takes minutes, so those cases are marked slow.
"""
import keras
import numpy as np
import pytest

import efficientnet_tf as et

# (builder, last_dim), as keras' MODEL_LIST has them.
MODEL_LIST = [
    ("EfficientNetB0", 1280), ("EfficientNetB1", 1280), ("EfficientNetB2", 1408), ("EfficientNetB3", 1536),
    ("EfficientNetB4", 1792), ("EfficientNetB5", 2048), ("EfficientNetB6", 2304), ("EfficientNetB7", 2560),
]
FORMATS = ("channels_first", "channels_last")
CASES = [
    pytest.param(name, last_dim, fmt, id=f"{name}_{fmt}", marks=[pytest.mark.slow] if name > "EfficientNetB2" else [])
    for fmt in FORMATS for name, last_dim in MODEL_LIST
]


@pytest.fixture
def image_data_format():
    """Restores the global data format whatever a test sets (keras' setUpClass/tearDownClass)."""
    original = keras.config.image_data_format()
    yield keras.config.set_image_data_format
    keras.config.set_image_data_format(original)


def _shape(fmt, channels, size):
    return (channels, size, size) if fmt == "channels_first" else (size, size, channels)


@pytest.mark.parametrize("name, last_dim, fmt", CASES)
def test_keras_applications_checks(name, last_dim, fmt, image_data_format):
    image_data_format(fmt)
    app = getattr(et, name)
    channel = 1 if fmt == "channels_first" else -1

    # test_application_notop_variable_input_channels: 1 and 4 channels, dynamic size.
    correct = [None, last_dim, None, None] if fmt == "channels_first" else [None, None, None, last_dim]
    for channels in (1, 4):
        model = app(weights=None, include_top=False, input_shape=_shape(fmt, channels, None))
        assert list(model.outputs[0].shape) == correct

    # test_application_notop_custom_input_shape: 123 px.
    model = app(weights=None, include_top=False, input_shape=_shape(fmt, 3, 123))
    assert list(model.outputs[0].shape)[channel] == last_dim

    # test_application_notop_custom_input_tensor: a Conv2D on a 4-channel Input.
    inputs = keras.layers.Input(shape=_shape(fmt, 4, 200), name="custom_input")
    inputs = keras.layers.Conv2D(3, (2, 2), padding="valid", strides=(2, 2))(inputs)
    model = app(weights=None, include_top=False, input_tensor=inputs)
    assert list(model.outputs[0].shape)[channel] == last_dim

    # test_application_pooling: max pooling, default shape.
    model = app(weights=None, include_top=False, pooling="max")
    assert list(model.outputs[0].shape) == [None, last_dim]

    # test_application_classifier_activation, on the default-argument model of test_application_base.
    model = app(weights=None, include_top=True, classifier_activation="softmax")
    assert model.layers[-1].activation.__name__ == "softmax"

    # test_application_base without the download: input layout, preprocess/decode, serialization.
    size = model.input_shape[2:4] if fmt == "channels_first" else model.input_shape[1:3]
    assert size == (et.get_variant(name).resolution,) * 2
    if fmt == "channels_last":  # keras skips this case on CPU in channels_first: no NCHW convolutions
        x = et.preprocess_input(np.random.default_rng(0).uniform(0, 255, (1, *size, 3)).astype("float32"))
        decoded = et.decode_predictions(model.predict(x, verbose=0))
        assert len(decoded) == 1 and len(decoded[0]) == 5
        assert all(wnid.startswith("n") and isinstance(label, str) for wnid, label, _ in decoded[0])
    config = keras.saving.serialize_keras_object(model)
    reconstructed = keras.saving.deserialize_keras_object(config)
    assert len(model.weights) == len(reconstructed.weights)
