"""Class activation maps: exact CAM arithmetic, and localization by a model trained a few steps."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from efficientnet_tf import create_model
from efficientnet_tf.cam import heatmaps, image_cam, overlay
from export_helpers import TRAIN_SIZE, encode, object_image, random_image, trained_object_model


def test_cam_is_the_class_weights_applied_to_the_last_features():
    model = create_model("b0", input_shape=(64, 64, 3), classes=5)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    maps, classes = heatmaps(model, images, class_index=3, method="cam")
    assert maps.shape == (2, 2, 2) and list(classes.numpy()) == [3, 3]
    features = keras.Model(model.inputs, model.get_layer("top_activation").output)(images).numpy()
    raw = features @ model.get_layer("predictions").kernel.numpy()[:, 3]
    low, high = raw.min(axis=(1, 2), keepdims=True), raw.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(maps, (raw - low) / (high - low), atol=1e-5)
    grad, _ = heatmaps(model, images, method="gradcam")
    assert grad.shape == (2, 2, 2) and 0.0 <= grad.numpy().min() and grad.numpy().max() <= 1.0


def test_overlay_has_the_image_size_and_blends():
    image = random_image(37, 53)
    out = overlay(image, np.array([[0.0, 1.0], [0.5, 0.2]], np.float32))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)


@pytest.mark.slow
@pytest.mark.parametrize("box", [(4, 4, 28), (34, 66, 28), (66, 2, 28), (70, 40, 24), (40, 80, 30)])
def test_heatmap_is_hottest_on_the_object(box):
    """The class's CAM, upsampled to the image, is hotter on the object than off it, for a model
    trained a few dozen steps. (Its single hottest pixel is not reliably on the object yet: the
    map is 4 x 4 and the receptive fields span the whole image.)"""
    top, left, side = box
    image = object_image(box, 3, TRAIN_SIZE)
    _, heat, cls = image_cam(trained_object_model(), encode(image, "PNG"), class_index=3, method="cam")
    assert cls == 3 and heat.shape == (TRAIN_SIZE // 32, TRAIN_SIZE // 32)
    full = tf.image.resize(heat[..., None], image.shape[:2]).numpy()[..., 0]
    on = np.zeros(full.shape, bool)
    on[top : top + side, left : left + side] = True
    assert full[on].mean() > full[~on].mean() + 0.1, np.round(heat, 2)
