"""build_dataset over every source: shapes, info, digits cache, holdout, determinism, bad images, sharding, uint8."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from efficientnet_tf import preprocessing
from efficientnet_tf.data import PipelineConfig, build_dataset, digits, sources
from efficientnet_tf.data.config import RANDAUGMENT_MAGNITUDE
from tests.data_helpers import encode, natural_image, unique_pngs, write_tfrecords


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    # One digits cache per test session: writing it takes ~1 s.
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _drain(dataset):
    """(images, labels, undecodable images counted) over every batch; the count with count_skips only."""
    batches = list(dataset)
    skipped = sum(int(b[2]) for b in batches) if batches and len(batches[0]) == 3 else None
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]), skipped


def _check_batches(dataset, batch, size, num_classes):
    for x, y in dataset.take(2):
        assert x.dtype == tf.uint8 and x.shape == (batch, size, size, 3)
        assert y.dtype == tf.int32 and y.shape == (batch,)
        assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 255.0
        assert 0 <= int(tf.reduce_min(y)) and int(tf.reduce_max(y)) < num_classes


def test_digits_default_source_offline():
    from sklearn.datasets import load_digits

    train, info = build_dataset("digits", "train", 32, 64, training=True, seed=0)
    assert (info.num_examples, info.num_classes, info.class_names) == (1437, 10, tuple("0123456789"))
    assert info.steps_per_epoch == 1437 // 64
    _check_batches(train, 64, 32, 10)
    ordered = PipelineConfig(deterministic=True)
    validation, vinfo = build_dataset("digits", "validation", 24, 100, training=False, config=ordered, count_skips=True)
    images, labels, skipped = _drain(validation)
    assert vinfo.num_examples == 360 and images.shape == (360, 24, 24, 3) and vinfo.steps_per_epoch == 4
    # The validation labels are the sklearn targets of the documented permutation (NumPy seed 0).
    order = np.random.RandomState(0).permutation(1797)
    np.testing.assert_array_equal(labels, load_digits().target[order[1437:]])
    assert skipped == 0
    # Digits fill their frame, so the source crops nothing at eval and never flips.
    assert vinfo.crop == digits.CROP and (digits.CROP.crop_padding, digits.CROP.flip) == (0, False)
    full, _ = build_dataset("digits", "validation", 32, 360, training=False, config=ordered)
    scans = load_digits().images[order[1437:]] * (255 / 16)
    expected = np.repeat(np.repeat(scans, 4, axis=1), 4, axis=2)  # 8x8 -> 32x32 nearest
    got = next(iter(full))[0].numpy()[..., 0]
    assert np.abs(got - expected).mean() < 6  # JPEG q95 of the whole digit, not a central crop
    reference, info = build_dataset("digits", "validation", 32, 360, training=False, config=ordered,
                                    crop=preprocessing.REFERENCE_CROP)
    assert info.crop.crop_padding == 32 and np.abs(next(iter(reference))[0].numpy()[..., 0] - expected).mean() > 20


def test_digits_tfrecords_read_back_by_tfrecord_reader():
    from sklearn.datasets import load_digits

    build_dataset("digits", "validation", 32, 8, training=False)
    directory = os.path.join(os.environ["EFFICIENTNET_TF_CACHE"], "digits-v1")
    assert sorted(os.listdir(directory)) == [
        "labels.txt", "train-00000-of-00002", "train-00001-of-00002", "validation-00000-of-00001"]
    dataset, info = build_dataset(f"tfrecord:{directory}", "train", 32, 100, training=False)
    assert (info.num_examples, info.num_classes) == (1437, 10)
    images, labels, _ = _drain(dataset)
    order = np.random.RandomState(0).permutation(1797)
    np.testing.assert_array_equal(np.sort(labels), np.sort(load_digits().target[order[:1437]]))
    # Eval preprocessing of a 32x32 digit at 32 px: the crop is 16 px scaled back up, pixels 0-255.
    assert images.shape == (1437, 32, 32, 3) and images.max() > 200 and images.min() < 30


@pytest.mark.parametrize("layout", ["reference", "tfds"])
def test_tfrecord_layouts_and_labels(tmp_path, layout):
    images, labels = unique_pngs(30)
    write_tfrecords(str(tmp_path), "validation", images, labels, shards=3, layout=layout)
    for pattern in (str(tmp_path), str(tmp_path / "{split}-*"), str(tmp_path / "validation-0000*")):
        dataset, info = build_dataset(f"tfrecord:{pattern}", "validation", 16, 7, training=False)
        assert (info.num_examples, info.num_classes, info.class_names) == (30, 5, ("0", "1", "2", "3", "4"))
        got = _drain(dataset)[1]
        assert got.shape == (30,) and sorted(got.tolist()) == sorted(labels)  # 1-based stored, 0-based out


def test_tfds_mock_data():
    with tfds.testing.mock_data(num_examples=12):
        nowhere = PipelineConfig(data_dir="/nonexistent")
        dataset, info = build_dataset("tfds:mnist", "train", 32, 4, training=True, config=nowhere, seed=1)
        assert (info.num_examples, info.num_classes, info.class_names[:2]) == (12, 10, ("0", "1"))
        _check_batches(dataset, 4, 32, 10)
        assert len(list(dataset)) == 3
        dataset, info = build_dataset("tfds:mnist", "validation", 20, 5, training=False, config=nowhere)
        images, labels, _ = _drain(dataset)
        assert images.shape == (12, 20, 20, 3) and labels.dtype == np.int32 and info.split == "validation"


def _bad_image_folder(root):
    good = 0
    for label, name in enumerate(["cat", "dog"]):
        os.makedirs(root / name)
        for i in range(3):
            (root / name / f"rgb{i}.jpg").write_bytes(encode(natural_image(60, 90, seed=10 * label + i), "JPEG"))
            good += 1
    jpeg = encode(natural_image(60, 90, seed=99), "JPEG")
    (root / "cat" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (root / "cat" / "empty.jpg").write_bytes(b"")
    (root / "dog" / "text.jpg").write_bytes(b"not an image at all\n")
    (root / "dog" / "gray.png").write_bytes(encode(natural_image(50, 40, seed=5)[..., 0], "PNG"))
    (root / "dog" / "cmyk.jpg").write_bytes(encode(natural_image(50, 40, seed=6), "JPEG", mode="CMYK"))
    (root / "dog" / "anim.gif").write_bytes(encode(natural_image(30, 30, seed=7), "GIF"))
    (root / "dog" / "pic.BMP").write_bytes(encode(natural_image(30, 30, seed=8), "BMP"))
    (root / "dog" / "notes.txt").write_bytes(b"ignored: not an image extension")
    return good + 4, 3


@pytest.mark.parametrize("training,augment", [(False, "none"), (True, "randaugment")])
def test_folder_skips_and_counts_bad_images(tmp_path, training, augment):
    good, bad = _bad_image_folder(tmp_path)
    dataset, info = build_dataset(f"folder:{tmp_path}", "train", 32, 4, training=training,
                                  config=PipelineConfig(augment=augment, validation_split=0.0),  # all of it
                                  drop_remainder=False, seed=0, count_skips=True)
    assert (info.num_examples, info.class_names) == (good + bad, ("cat", "dog"))
    images, labels, skipped = _drain(dataset)
    assert images.shape == (good, 32, 32, 3) and sorted(labels.tolist()) == [0, 0, 0] + [1] * 7
    assert skipped == bad
    assert _drain(dataset)[2] == bad  # each pass counts its own


@pytest.mark.parametrize("chunk", [1, 2])
def test_chunks_that_fail_whole_are_counted(tmp_path, monkeypatch, chunk):
    """Decodes are isolated per chunk; a chunk whose every image fails yields nothing but its count."""
    import efficientnet_tf.data.pipeline as pipeline

    monkeypatch.setattr(pipeline, "decode_chunk", lambda size: chunk)
    good, bad = _bad_image_folder(tmp_path)
    dataset, info = build_dataset(f"folder:{tmp_path}", "train", 32, 3, training=False,
                                  config=PipelineConfig(validation_split=0.0), drop_remainder=False, count_skips=True)
    images, labels, skipped = _drain(dataset)
    assert images.shape == (good, 32, 32, 3) and sorted(labels.tolist()) == [0, 0, 0] + [1] * 7
    assert skipped == bad


def test_deterministic_with_seed_gives_identical_batches():
    def batches(seed):
        settings = PipelineConfig(augment="randaugment", mixup=0.2, deterministic=True, holdout=100)
        dataset, _ = build_dataset("digits", "train", 32, 32, training=True, config=settings, seed=seed)
        first = [(x.numpy(), y.numpy()) for x, y in dataset.take(3)]
        second = [(x.numpy(), y.numpy()) for x, y in dataset.take(3)]  # next epoch
        return first, second

    a, a_next = batches(5)
    b, _ = batches(5)
    c, _ = batches(6)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    assert not np.array_equal(a[0][0], a_next[0][0])  # epochs reshuffle and re-augment


def _record_bytes(source, split, holdout, training, seed=None, ctx=None):
    # validation_split 0: a flat folder is all train, as the TFRecords are.
    settings = PipelineConfig(holdout=holdout, validation_split=0.0)
    options = sources.ReadOptions.of(settings, split=split, training=training, seed=seed, input_context=ctx)
    records = sources.load(source, None, options)
    return [b.numpy() for b, _ in records.dataset], records.num_examples


@pytest.mark.parametrize("kind", ["tfrecord", "folder"])
def test_holdout_disjoint_and_stable(tmp_path, kind):
    images, labels = unique_pngs(40)
    if kind == "tfrecord":
        write_tfrecords(str(tmp_path), "train", images, labels, shards=3)
    else:
        for i, (image, label) in enumerate(zip(images, labels)):
            os.makedirs(tmp_path / f"c{label}", exist_ok=True)
            (tmp_path / f"c{label}" / f"{i}.png").write_bytes(image)
    source = f"{kind}:{tmp_path}"
    minival, n_minival = _record_bytes(source, "minival", 9, training=False)
    train, n_train = _record_bytes(source, "train", 9, training=True, seed=None)
    assert (n_minival, n_train, len(minival), len(train)) == (9, 31, 9, 31)
    assert not set(minival) & set(train) and set(minival) | set(train) == set(images)
    assert sorted(_record_bytes(source, "minival", 9, training=True, seed=3)[0]) == sorted(minival)  # same across runs
    settings = PipelineConfig(holdout=9, validation_split=0.0)
    dataset, info = build_dataset(source, "minival", 16, 4, training=False, config=settings)
    assert info.num_examples == 9 and len(_drain(dataset)[1]) == 9


def test_input_context_shards_and_per_replica_batch():
    seen = []
    for pipeline in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2)
        dataset, info = build_dataset("digits", "validation", 16, 20, training=False, input_context=ctx)
        x, _ = next(iter(dataset))
        assert x.shape == (10, 16, 16, 3) and info.num_examples == 360
        seen.append(sum(int(x.shape[0]) for x, _ in dataset))
    assert seen == [180, 180]  # the validation split is one file: sharded by record


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset source"):
        build_dataset("imagenet", "train", 32, 8, training=True)
    with pytest.raises(ValueError, match="minival"):
        build_dataset("digits", "minival", 32, 8, training=False)
    with pytest.raises(ValueError, match="augment"):
        build_dataset("digits", "train", 32, 8, training=True, config=PipelineConfig(augment="autoaug"))


def test_randaugment_magnitude_none_is_the_data_default(monkeypatch):
    from efficientnet_tf.data import augment

    levels = []  # the level of every op each pipeline's RandAugment builds
    original = augment._op
    monkeypatch.setattr(augment, "_op", lambda name, level, consts: levels.append(level) or original(name, level, consts))
    for magnitude, expected in ((None, RANDAUGMENT_MAGNITUDE), (17, 17)):
        levels.clear()
        settings = PipelineConfig(augment="randaugment", randaugment_magnitude=magnitude)
        build_dataset("digits", "train", 32, 8, training=True, config=settings, seed=0)
        assert len(levels) == len(augment.RANDAUGMENT_OPS) and set(levels) == {expected}


def test_only_decode_errors_are_skipped(tmp_path, monkeypatch):
    from efficientnet_tf.data import augment

    def broken(image, num_layers, magnitude, seed):  # a bug in an augmentation op
        brightest = tf.cast(tf.reduce_max(image), tf.float32)
        with tf.control_dependencies([tf.debugging.assert_less(brightest, -1.0, message="augmentation bug")]):
            return tf.identity(image)
    monkeypatch.setattr(augment, "randaugment", broken)
    dataset, _ = build_dataset("digits", "train", 32, 8, training=True, config=PipelineConfig(augment="randaugment"),
                               seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="augmentation bug"):
        next(iter(dataset))
    # A corrupt TFRecord file is an error too (here when its records are counted), never a shorter split.
    images, labels = unique_pngs(6)
    write_tfrecords(str(tmp_path), "validation", images, labels, shards=1)
    path = tmp_path / "validation-00000-of-00001"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(tf.errors.DataLossError):
        _drain(build_dataset(f"tfrecord:{tmp_path}", "validation", 16, 2, training=False,
                             config=PipelineConfig(num_classes=5))[0])


def test_batches_are_uint8_rounded_from_the_float_pipeline():
    ordered = PipelineConfig(deterministic=True)
    wide, _ = build_dataset("digits", "validation", 24, 90, False, ordered, image_dtype=tf.float32)
    narrow, _ = build_dataset("digits", "validation", 24, 90, False, ordered)
    for (xf, yf), (xu, yu) in zip(wide, narrow):
        assert xf.dtype == tf.float32 and xu.dtype == tf.uint8
        assert np.any(xf.numpy() != np.round(xf.numpy()))  # unrounded
        np.testing.assert_array_equal(xu.numpy(), np.clip(np.round(xf.numpy()), 0, 255).astype(np.uint8))
        np.testing.assert_array_equal(yf.numpy(), yu.numpy())
    mixed = PipelineConfig(mixup=0.4, augment="randaugment")
    for dtype in (tf.uint8, tf.float32):
        dataset, _ = build_dataset("digits", "train", 24, 8, True, mixed, seed=0, image_dtype=dtype, count_skips=True)
        x, y, skipped = next(iter(dataset))
        assert (x.dtype, y.dtype, y.shape, skipped.dtype) == (dtype, tf.float32, (8, 10), tf.int64)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_the_model_takes_uint8_batches_as_it_takes_float32(policy):
    """Keras casts a uint8 batch to the model's float32 input, so the pipeline's uint8 needs no cast."""
    import keras

    from efficientnet_tf.models.efficientnet import EfficientNetB0

    keras.mixed_precision.set_global_policy(policy)
    model = EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10)
    images = next(iter(build_dataset("digits", "validation", 32, 4, training=False)[0]))[0]
    graph = tf.function(lambda x, training: model(x, training=training))
    for call in (model, graph):
        np.testing.assert_array_equal(call(images, training=False).numpy(),
                                      call(tf.cast(images, tf.float32), training=False).numpy())
        assert call(images, training=True).shape == (4, 10)
