"""augment, image_ops, mixing: every op eager and inside tf.data, 0-255 and shapes kept, PIL-exact where PIL defines it."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from efficientnet_tf.data import augment as A
from efficientnet_tf.data import image_ops as ops
from efficientnet_tf.data import mixing
from tests.data_helpers import natural_image

IMAGE = natural_image(40, 56, seed=2)
SEED = tf.constant([7, 9], tf.int64)


def _in_dataset(fn, image):
    dataset = tf.data.Dataset.from_tensors(tf.constant(image)).map(fn, num_parallel_calls=2)
    return next(iter(dataset))


@pytest.mark.parametrize("name", A.RANDAUGMENT_OPS)
@pytest.mark.parametrize("level", [3, 10, 28])
def test_op_eager_equals_dataset_and_keeps_range(name, level):
    eager = A.apply_op(tf.constant(IMAGE), name, level, SEED)
    mapped = _in_dataset(lambda im: A.apply_op(im, name, level, SEED), IMAGE)
    assert eager.dtype == tf.uint8 and eager.shape == (40, 56, 3) and mapped.shape == (40, 56, 3)
    np.testing.assert_array_equal(eager.numpy(), mapped.numpy())
    as_float = A.apply_op(tf.constant(IMAGE, tf.float32), name, level, SEED)
    assert as_float.dtype == tf.float32 and as_float.shape == (40, 56, 3)
    np.testing.assert_array_equal(as_float.numpy(), eager.numpy().astype(np.float32))


def test_ops_match_pil():
    image = natural_image(40, 56, seed=3) // 2 + 20  # not full-range, so autocontrast/equalize act
    t = tf.constant(image)
    np.testing.assert_array_equal(ops.equalize(t).numpy(), np.asarray(ImageOps.equalize(Image.fromarray(image))))
    # float32 vs PIL's double can truncate one level lower.
    contrasted = np.asarray(ImageOps.autocontrast(Image.fromarray(image))).astype(int)
    assert np.abs(ops.autocontrast(t).numpy().astype(int) - contrasted).max() <= 1
    np.testing.assert_array_equal(ops.invert(t).numpy(), 255 - image)
    np.testing.assert_array_equal(ops.posterize(t, 2).numpy(), image & 0b11000000)
    np.testing.assert_array_equal(ops.solarize(t, 100).numpy(), np.where(image < 100, image, 255 - image))


def test_reference_level_mapping():
    image = tf.constant(IMAGE)
    # Posterize level 6 -> int(2.4) = 2 bits; level 28 clamps to 8 bits (identity).
    assert set(np.unique(A.apply_op(image, "Posterize", 6, SEED).numpy())) <= {0, 64, 128, 192}
    np.testing.assert_array_equal(A.apply_op(image, "Posterize", 28, SEED).numpy(), IMAGE)
    # Level 0: rotate/shear/translate by 0 and Color with factor 0.1 vs gray.
    for name in ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"):
        np.testing.assert_array_equal(A.apply_op(image, name, 0, SEED).numpy(), IMAGE)
    # Cutout level 10 in RandAugment = 40 px pad: a gray square of up to 80x80 (clipped to the image).
    cut = A.apply_op(np.zeros((200, 200, 3), np.uint8), "Cutout", 10, SEED).numpy()
    rows, cols = np.nonzero(cut[..., 0] == 128)
    assert rows.max() - rows.min() + 1 <= 80 and cols.max() - cols.min() + 1 <= 80 and len(rows) >= 40 * 40
    # TranslateX by level 1 of RandAugment = 10 px, either way, gray fill.
    shifted = A.apply_op(image, "TranslateX", 1, SEED).numpy()
    assert np.array_equal(shifted[:, 10:], IMAGE[:, :-10]) or np.array_equal(shifted[:, :-10], IMAGE[:, 10:])


def test_policy_table_is_reference_v0():
    assert len(A.AUTOAUGMENT_POLICY_V0) == 25
    assert all(len(sub) == 2 for sub in A.AUTOAUGMENT_POLICY_V0)
    assert A.AUTOAUGMENT_POLICY_V0[0] == (("Equalize", 0.8, 1), ("ShearY", 0.8, 4))
    assert A.AUTOAUGMENT_POLICY_V0[-1] == (("Color", 0.8, 6), ("Rotate", 0.4, 5))
    assert len(A.RANDAUGMENT_OPS) == 16


@pytest.mark.parametrize(
    "fn",
    [lambda im, s: A.autoaugment(im, s), lambda im, s: A.randaugment(im, 2, 10, s), lambda im, s: A.randaugment(im, 3, 28, s)],
    ids=["autoaugment", "randaugment_2_10", "randaugment_3_28"],
)
def test_policies_eager_and_in_dataset(fn):
    seeds = tf.constant([[i, 1] for i in range(6)], tf.int64)
    image = tf.constant(IMAGE, tf.float32)
    mapped = list(tf.data.Dataset.from_tensor_slices(seeds).map(lambda s: fn(image, s), num_parallel_calls=2))
    outs = []
    for seed, from_dataset in zip(seeds, mapped):
        eager = fn(image, seed)
        assert eager.dtype == tf.float32 and eager.shape == (40, 56, 3) and from_dataset.shape == (40, 56, 3)
        assert 0.0 <= float(tf.reduce_min(eager)) and float(tf.reduce_max(eager)) <= 255.0
        np.testing.assert_array_equal(eager.numpy(), from_dataset.numpy())
        outs.append(eager.numpy())
    assert len({o.tobytes() for o in outs}) > 1  # the seed changes the outcome


@pytest.mark.parametrize("mixup,cutmix", [(0.2, 0.0), (0.0, 1.0), (0.2, 1.0)])
def test_mix_batch(mixup, cutmix):
    images = tf.random.stateless_uniform([6, 16, 16, 3], [1, 2], 0, 255)
    labels = tf.constant([0, 1, 2, 3, 4, 0])
    x, y = mixing.mix_batch(images, labels, 5, mixup, cutmix, SEED)
    assert x.shape == (6, 16, 16, 3) and y.shape == (6, 5) and y.dtype == tf.float32
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, rtol=1e-6)
    assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 255.0
    # Each label row mixes the example's class with its mirror in the batch, weight >= 0 on both.
    for i in range(6):
        assert set(np.nonzero(y[i].numpy())[0]) <= {int(labels[i]), int(labels[5 - i])}


@pytest.mark.parametrize("transform", [
    [1.0, 0.0, -100.0, 0.0, 1.0, 0.0, 0.0, 0.0],  # translate x by 100
    [1.0, 0.0, 0.0, 0.0, 1.0, 7.5, 0.0, 0.0],  # translate y by -7.5: half-pixel rounding
    [1.0, 0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],  # shear x: many half-pixel source columns
    [1.0, 0.0, 0.0, -0.3, 1.0, 0.0, 0.0, 0.0],  # shear y
    [0.866, -0.5, 31.2, 0.5, 0.866, -10.4, 0.0, 0.0],  # rotate 30 degrees about the center
    [1.1, 0.1, -3.0, 0.05, 0.9, 2.0, 0.001, -0.002],  # projective
])
def test_transform_equals_tf_projective_transform(transform):
    image = tf.constant(natural_image(57, 83, seed=4))
    native = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis], transforms=tf.constant([transform]), output_shape=[57, 83],
        fill_value=128.0, interpolation="NEAREST", fill_mode="CONSTANT")[0]
    np.testing.assert_array_equal(ops._transform(image, tf.constant(transform)).numpy(), native.numpy())


def test_sharpness_and_solarize_add_match_numpy_reference():
    image = natural_image(40, 56, seed=5)
    x = image.astype(np.float64)
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float64)
    smooth = sum(kernel[i, j] * x[i:i + 38, j:j + 54] for i in range(3) for j in range(3)) / 13.0
    degenerate = x.copy()
    degenerate[1:-1, 1:-1] = np.round(smooth)
    for factor in (0.1, 1.0, 1.9):
        expected = np.clip(degenerate + factor * (x - degenerate), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(ops.sharpness(tf.constant(image), factor).numpy(), expected)
    for addition in (0, 30, 110, 300):
        expected = np.where(image < 128, np.clip(image.astype(int) + addition, 0, 255), image)
        np.testing.assert_array_equal(ops.solarize_add(tf.constant(image), addition).numpy(), expected)
    with pytest.raises(ValueError, match="addition >= 0"):
        ops.solarize_add(tf.constant(image), -1)
