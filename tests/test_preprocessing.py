"""preprocessing: decoding every format, fused JPEG crop == decode-then-crop, train/eval crops."""
import numpy as np
import pytest
import tensorflow as tf

from efficientnet_tf import preprocessing as P
from tests.data_helpers import encode, natural_image

RGB = natural_image(100, 80, seed=1)


def _formats():
    gray = RGB[..., 0]
    return {
        "jpeg": encode(RGB, "JPEG", quality=95),
        "png": encode(RGB, "PNG"),
        "gif": encode(RGB, "GIF"),
        "bmp": encode(RGB, "BMP"),
        "gray_png": encode(gray, "PNG"),
        "gray_jpeg": encode(gray, "JPEG", quality=95),
        "rgba_png": encode(np.dstack([RGB, RGB[..., :1]]), "PNG"),
        "cmyk_jpeg": encode(RGB, "JPEG", mode="CMYK", quality=95),
    }


@pytest.mark.parametrize("name", list(_formats()))
def test_decode_image_every_format_gives_rgb(name):
    image = P.decode_image(_formats()[name])
    assert image.dtype == tf.uint8 and image.shape == (100, 80, 3)
    assert bool(P.is_image(_formats()[name]))
    if name.startswith("gray"):
        assert np.array_equal(image[..., 0], image[..., 2])
    if name in ("png", "bmp", "rgba_png"):  # lossless: exact pixels
        assert np.array_equal(image.numpy(), RGB)
    if name in ("jpeg", "cmyk_jpeg"):  # CMYK converted to RGB, not left inverted
        assert np.abs(image.numpy().astype(int) - RGB.astype(int)).mean() < 4


@pytest.mark.parametrize("data", [b"", b"this is text, not an image", _formats()["jpeg"][:600]])
def test_bad_bytes_raise_invalid_argument(data):
    with pytest.raises(tf.errors.InvalidArgumentError):
        P.preprocess_for_eval(tf.constant(data), 32)


def test_is_image_rejects_non_images():
    assert not bool(P.is_image(b""))
    assert not bool(P.is_image(b"hello"))


def test_eval_is_center_crop_then_bicubic():
    out = P.preprocess_for_eval(tf.constant(_formats()["png"]), 32)
    # crop = int(32 / 64 * min(100, 80)) = 40; offsets ((100 - 40 + 1) // 2, (80 - 40 + 1) // 2) = (30, 20)
    expected = tf.clip_by_value(tf.image.resize(RGB[30:70, 20:60], [32, 32], method="bicubic"), 0, 255)
    assert out.dtype == tf.float32 and out.shape == (32, 32, 3)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_fused_jpeg_crop_equals_decode_then_crop():
    jpeg = _formats()["jpeg"]
    fused = P.preprocess_for_eval(tf.constant(jpeg), 32)
    decoded = tf.io.decode_jpeg(jpeg, channels=3)
    expected = tf.clip_by_value(tf.image.resize(decoded[30:70, 20:60], [32, 32], method="bicubic"), 0, 255)
    # Same window; libjpeg's chroma upsampling differs only at the crop's block edges.
    diff = np.abs(fused.numpy() - expected.numpy())
    assert diff.mean() < 0.2 and np.median(diff) < 0.01


@pytest.mark.parametrize("name", list(_formats()))
def test_train_shape_range_and_seed(name):
    data = tf.constant(_formats()[name])
    seed = tf.constant([3, 4], tf.int64)
    a = P.preprocess_for_train(data, 48, seed=seed)
    b = P.preprocess_for_train(data, 48, seed=seed)
    c = P.preprocess_for_train(data, 48, seed=tf.constant([5, 6], tf.int64))
    assert a.dtype == tf.float32 and a.shape == (48, 48, 3)
    assert 0.0 <= float(tf.reduce_min(a)) and float(tf.reduce_max(a)) <= 255.0
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    assert P.preprocess_for_train(data, 48).shape == (48, 48, 3)  # unseeded


def test_distorted_crop_falls_back_to_center_crop():
    # A 4x400 image has no crop with aspect 3/4-4/3 covering 8% of its area: all attempts fail.
    shape = tf.constant([4, 400, 3])
    window = P._distorted_window(shape, 32, tf.constant([1, 2], tf.int64), P.REFERENCE_CROP)
    np.testing.assert_array_equal(window.numpy(), P._center_window(shape, 32, P.CROP_PADDING).numpy())
    whole = P._distorted_window(shape, 32, tf.constant([1, 2], tf.int64), P.CropPolicy(crop_padding=0))
    np.testing.assert_array_equal(whole.numpy(), [0, 198, 4, 4])  # the policy's own center crop
    window = P._distorted_window(tf.constant([300, 400, 3]), 32, tf.constant([1, 2], tf.int64), P.REFERENCE_CROP)
    y, x, h, w = window.numpy()
    assert 0.08 * 300 * 400 * 0.99 <= h * w <= 300 * 400 and 0.74 <= w / h <= 1.34


def test_serving_style_map_fn_over_mixed_batch():
    formats = _formats()
    batch = tf.constant([formats["jpeg"], formats["png"], formats["gif"], formats["bmp"], formats["cmyk_jpeg"]])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(images):
        return tf.map_fn(lambda b: P.preprocess_for_eval(b, 40), images, fn_output_signature=tf.float32)

    out = serve(batch)
    assert out.shape == (5, 40, 40, 3)
    np.testing.assert_allclose(out[1].numpy(), out[3].numpy())  # PNG and BMP hold the same pixels


def test_crop_policy_whole_image_and_no_flip():
    """A policy that keeps the whole image and never flips: eval is the decoded image itself,
    and training with crops of full area can only return the image, unflipped."""
    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = tf.io.encode_png(image)
    whole = P.CropPolicy(crop_padding=0, area_range=(1.0, 1.0), flip=False)
    np.testing.assert_allclose(P.preprocess_for_eval(data, 32, crop_padding=0).numpy(), image, atol=1e-3)
    for s in range(5):
        out = P.preprocess_for_train(data, 32, seed=tf.constant([s, 7], tf.int64), crop=whole)
        np.testing.assert_allclose(out.numpy(), image, atol=1e-3)
    flips = [P.preprocess_for_train(data, 32, seed=tf.constant([s, 7], tf.int64), crop=P.CropPolicy(0, (1.0, 1.0), True))
             for s in range(8)]
    assert any(np.allclose(f.numpy(), image[:, ::-1], atol=1e-3) for f in flips)  # the flag is what stops flips
