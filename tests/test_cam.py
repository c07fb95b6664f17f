"""Class activation maps: exact CAM arithmetic, maps drawn at the receptive fields, and localization
by a model trained a few steps."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from sklearn.datasets import load_sample_image

from efficientnet_tf import EfficientNet, create_model, feature_info
from efficientnet_tf.serving.cam import draw, feature_grid, heatmaps, image_cam, overlay
from export_helpers import CAM_SIZE, CLASSES, encode, object_image, random_boxes, random_image, trained_object_model

# Two stride-2 MBConv stages without SE: stride 8 and a 23-px receptive field that fits in the image.
SHALLOW = ["r1_k3_s22_e1_i32_o16", "r1_k5_s22_e6_i16_o24"]
# The same field in EfficientNetV2's style: a fused stage, and convs that pad "same" themselves.
SHALLOW_V2 = ["r1_k3_s2_e1_i32_o16_c1", "r1_k5_s2_e6_i16_o24"]


def _shallow(size, family="v1"):
    keras.utils.set_random_seed(0)
    return EfficientNet(1.0, 1.0, size, blocks_args=SHALLOW if family == "v1" else SHALLOW_V2,
                        input_shape=(size, size, 3), classes=3, family=family)


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
    drawn, _ = heatmaps(model, images, class_index=3, size=(48, 80))
    assert drawn.shape == (2, 48, 80)


@pytest.mark.parametrize("family", ["v1", "v2"])
@pytest.mark.parametrize("size, offset", [(64, 7), (61, 4)])
def test_feature_grid_is_where_the_receptive_field_is_centred(size, offset, family):
    """The input pixels with a non-zero gradient into one feature cell are centred on
    stride * i + offset: 7 = 3.5 + 3.5 on even sizes (asymmetric padding), 4 on this odd one."""
    model = _shallow(size, family)
    stride, found = feature_grid(model)
    assert stride.tolist() == [8, 8] and found.tolist() == [offset, offset]
    features = keras.Model(model.inputs, model.get_layer("top_activation").output)
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)), tf.float32)
    for i, j in [(3, 4), (2, 2)]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            cell = tf.reduce_sum(features(x)[:, i, j])
        rows, cols = np.nonzero(np.abs(tape.gradient(cell, x).numpy()[0]).sum(-1))
        assert rows.max() - rows.min() == 22 and cols.max() - cols.min() == 22  # the field, inside the image
        assert ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2) == (8 * i + offset, 8 * j + offset)


def test_draw_puts_each_cell_at_its_receptive_field_centre():
    maps = np.zeros((1, 8, 8), np.float32)
    maps[0, 3, 5] = 1.0
    drawn = draw(_shallow(64), maps, (64, 64), (192, 64)).numpy()[0]  # 3x taller than the input
    assert drawn.shape == (192, 64) and 0.0 <= drawn.min() and drawn.max() == 1.0
    # input pixel 8*3+7 = 31 spans rows 93-95 of the picture; column 8*5+7 = 47 is unscaled
    assert np.unravel_index(drawn.argmax(), drawn.shape) == (94, 47)


@pytest.mark.parametrize("variant", ["b0", "lite0"])
def test_the_map_reaches_every_border_of_a_real_photo(variant):
    """A uniform map drawn over scikit-learn's 427 x 640 china.jpg blends every pixel alike: the
    border rows and columns, outside the outer cells' centres, as the interior (a resampler alone
    fades them towards zero, a visible band along the top and left edges)."""
    photo = load_sample_image("china.jpg")
    model = create_model(variant, input_shape=(224, 224, 3))
    stride, offset = feature_grid(model)
    info = feature_info(model)[-1]
    assert info.name == "top_activation" and stride.tolist() == [info.stride] * 2 == [32, 32]
    assert offset.tolist() == list(info.offset) == [31.0, 31.0]  # 15.5 + a half cell (asymmetric padding)
    drawn = draw(model, np.full((1, 7, 7), 0.7, np.float32), (224, 224), photo.shape[:2]).numpy()[0]
    assert drawn.shape == (427, 640)
    np.testing.assert_allclose(drawn, 0.7, atol=1e-5)
    blended = overlay(photo, drawn)
    interior = overlay(photo[200:201, 300:301], np.full((1, 1), 0.7, np.float32))
    expected = overlay(photo, np.full(photo.shape[:2], 0.7, np.float32))
    assert np.array_equal(blended[[0, -1]], expected[[0, -1]]) and np.array_equal(blended[:, [0, -1]], expected[:, [0, -1]])
    assert np.array_equal(blended[200, 300], interior[0, 0])


def test_overlay_has_the_image_size_and_blends():
    image = random_image(37, 53)
    heat = np.random.default_rng(0).uniform(0, 1, (37, 53)).astype(np.float32)
    out = overlay(image, heat)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    with pytest.raises(ValueError, match=r"size=image.shape\[:2\]"):
        overlay(image, heat[:4, :4])


@pytest.mark.slow
def test_cam_peaks_inside_the_object():
    """For a slim EfficientNet trained a few dozen steps on coloured squares at random places, the
    CAM of the true class, drawn over the image, peaks inside the square for at least 32 of 40 random
    placements (corners and edges included; a random peak would hit it ~6% of the time), and never
    more than half a feature cell (16 px) outside it. Measured: 36 of 40, the rest within 5 px."""
    model = trained_object_model(CAM_SIZE)
    misses = []
    for k, (top, left, side) in enumerate(random_boxes(40, 3, CAM_SIZE)):
        image = object_image((top, left, side), k % CLASSES, CAM_SIZE)
        _, heat, cls = image_cam(model, encode(image, "PNG"), class_index=k % CLASSES)
        assert heat.shape == image.shape[:2] and cls == k % CLASSES
        y, x = np.unravel_index(heat.argmax(), heat.shape)
        outside = max(top - y, y - (top + side - 1), left - x, x - (left + side - 1), 0)
        if outside:
            misses.append(((top, left, side), (y, x), outside))
    assert len(misses) <= 8, misses
    assert all(distance <= 16 for *_, distance in misses), misses
