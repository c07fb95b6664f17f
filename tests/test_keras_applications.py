"""Every check keras.applications' own suite makes of EfficientNetB0-B7 and EfficientNetV2B0-B3, S, M
and L, replayed on our builders.

Source: keras/src/applications/applications_test.py (Keras 3.15), MODEL_LIST's EfficientNet rows,
each test run in both image data formats. What keras' ``test_application_base`` checks with the
downloaded ImageNet weights and elephant picture (top-3 "African_elephant") needs the network, so
that case replays the rest: default-argument construction (``weights=None``), preprocess_input and
decode_predictions on its predictions, and the serialize/deserialize round trip. keras itself skips
that case in channels_first on a CPU: there it is replayed without the prediction.
Building B2-B7 and V2 B2-L seven times per format takes minutes, so those cases are marked slow.
"""
import keras
import numpy as np
import pytest

import efficientnet_tf as et

# (builder, last_dim), as keras' MODEL_LIST has them.
MODEL_LIST = [
    ("EfficientNetB0", 1280), ("EfficientNetB1", 1280), ("EfficientNetB2", 1408), ("EfficientNetB3", 1536),
    ("EfficientNetB4", 1792), ("EfficientNetB5", 2048), ("EfficientNetB6", 2304), ("EfficientNetB7", 2560),
    ("EfficientNetV2B0", 1280), ("EfficientNetV2B1", 1280), ("EfficientNetV2B2", 1408), ("EfficientNetV2B3", 1536),
    ("EfficientNetV2S", 1280), ("EfficientNetV2M", 1280), ("EfficientNetV2L", 1280),
]
FORMATS = ("channels_first", "channels_last")
FAST = ("EfficientNetB0", "EfficientNetB1", "EfficientNetV2B0", "EfficientNetV2B1")
CASES = [
    pytest.param(name, last_dim, fmt, id=f"{name}_{fmt}", marks=[] if name in FAST else [pytest.mark.slow])
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


def test_decode_predictions_gives_keras_tuples():
    preds = np.full((2, 1000), 1e-4, "float32")
    preds[0, [386, 101, 385]] = [0.7, 0.2, 0.05]
    preds[1, [0, 999, 134, 517]] = [0.4, 0.3, 0.2, 0.1]
    out = et.decode_predictions(preds, top=3)
    assert [t[:2] for t in out[0]] == [
        ("n02504458", "African_elephant"), ("n01871265", "tusker"), ("n02504013", "Indian_elephant")
    ]
    np.testing.assert_allclose([t[2] for t in out[0]], [0.7, 0.2, 0.05])
    assert [t[:2] for t in et.decode_predictions(preds)[1][:4]] == [
        ("n01440764", "tench"), ("n15075141", "toilet_tissue"), ("n02012849", "crane"), ("n03126707", "crane")
    ]
    assert len(et.decode_predictions(preds)[1]) == 5


def test_class_index_wnids_are_imagenet2012s():
    """Class i is the i-th WNID in sorted order, as tensorflow_datasets' imagenet2012 labels list them."""
    from importlib import resources

    from efficientnet_tf.models.imagenet import class_index

    tfds_labels = resources.files("tensorflow_datasets").joinpath("datasets/imagenet2012/labels.txt")
    wnids = tfds_labels.read_text().split()
    assert [w for w, _ in class_index()] == wnids and len(set(wnids)) == 1000
    long_names = resources.files("efficientnet_tf").joinpath("assets/imagenet_classes.txt").read_text().splitlines()
    assert long_names[386].startswith("African elephant") and len(long_names) == 1000  # kept for serving


@pytest.mark.parametrize("bad", [np.zeros(1000), np.zeros((2, 999)), np.zeros((1, 2, 1000))])
def test_decode_predictions_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        et.decode_predictions(bad)


def test_decode_predictions_rejects_bad_top():
    with pytest.raises(ValueError, match="top must be"):
        et.decode_predictions(np.zeros((1, 1000)), top=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_preprocess_input_is_a_pass_through(fmt):
    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 8, 8)).astype("float32")
    assert et.preprocess_input(x, data_format=fmt) is x
    from keras.applications import efficientnet

    np.testing.assert_array_equal(et.preprocess_input(x), efficientnet.preprocess_input(x))


def _norm_out(model, value, fmt="channels_last"):
    out = np.asarray(model.get_layer("normalization")(np.full((1,) + tuple(model.input_shape[1:]), value, "float32")))
    return out[0, :, 0, 0] if fmt == "channels_first" else out[0, 0, 0]


@pytest.mark.parametrize("channels, normalization, mean, std", [
    (1, "imagenet", [0.449], [0.226]),
    (4, "imagenet", [0.449] * 4, [0.226] * 4),
    (3, "imagenet", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    (2, "advprop", [0.5] * 2, [0.5] * 2),
    (1, "lite", [127 / 255], [128 / 255]),
])
def test_normalization_for_any_channel_count(channels, normalization, mean, std):
    layer = et.ImageNormalization(normalization, data_format="channels_last")
    out = np.asarray(layer(np.full((1, 2, 2, channels), 200.0, "float32")))[0, 0, 0]
    np.testing.assert_allclose(out, (200 / 255 - np.array(mean)) / np.array(std), rtol=1e-5)
    assert layer.count_params() == 2 * channels + 1
    assert et.ImageNormalization.from_config(layer.get_config()).get_config() == layer.get_config()


def test_builder_normalizes_any_channel_count():
    model = et.EfficientNetB0(include_top=False, input_shape=(32, 32, 4))
    np.testing.assert_allclose(_norm_out(model, 200.0), np.full(4, (200 / 255 - 0.449) / 0.226), rtol=1e-5)
    plain = et.EfficientNetB0(include_top=False, input_shape=(32, 32, 4), include_preprocessing=False)
    assert "normalization" not in [l.name for l in plain.layers]
    assert plain.get_layer("stem_conv").input.shape[-1] == 4


def test_one_channel_model_keeps_names_and_shapes():
    """So that weights load into it by name; only the stem kernel's input depth differs."""
    rgb = et.EfficientNetB0(input_shape=(64, 64, 3), classes=5)
    gray = et.EfficientNetB0(input_shape=(64, 64, 1), classes=5)
    assert [l.name for l in gray.layers] == [l.name for l in rgb.layers]
    differ = {w.path for w, v in zip(gray.weights, rgb.weights) if w.shape != v.shape}
    assert differ == {"stem_conv/kernel", "normalization/mean", "normalization/variance"}
    assert tuple(gray.get_layer("stem_conv").kernel.shape) == (3, 3, 1, 32)


def test_channels_first_layout(image_data_format):
    last = et.EfficientNetB0(include_top=False, input_shape=(65, 65, 3))
    image_data_format("channels_first")
    first = et.EfficientNetB0(include_top=False, input_shape=(3, 65, 65))
    assert first.get_layer("block2a_bn").axis == 1 and last.get_layer("block2a_bn").axis == -1
    # 65 px is odd: correct_pad pads (1, 1) in both layouts, then 33 is odd again.
    for name in ("stem_conv_pad", "block2a_dwconv_pad", "block3a_dwconv_pad"):
        assert first.get_layer(name).padding == last.get_layer(name).padding
    assert first.get_layer("stem_conv_pad").padding == ((1, 1), (1, 1))
    assert first.get_layer("block2a_se_reshape").target_shape == (96, 1, 1)
    assert first.output_shape == (None, 1280, 3, 3) and last.output_shape == (None, 3, 3, 1280)
    np.testing.assert_allclose(_norm_out(first, 255.0, "channels_first"), _norm_out(last, 255.0), rtol=1e-6)
    assert et.profile(first).macs == et.profile(last).macs
    maps = et.feature_extractor(first).outputs
    assert [tuple(m.shape) for m in maps] == [(None, c, s, s) for c, s in
                                              [(16, 33), (24, 17), (40, 9), (112, 5), (1280, 3)]]
