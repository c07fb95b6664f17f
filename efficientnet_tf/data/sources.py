"""Dataset sources -> a stream of (encoded image bytes, 0-based int32 label) plus its metadata.

Source strings (as ``train.py --dataset`` takes them):

* ``digits``: scikit-learn's digits, see :mod:`efficientnet_tf.data.digits`.
* ``tfrecord:GLOB``: ``tf.train.Example`` files. GLOB may contain ``{split}``; a directory means
  ``DIR/{split}-*`` (the reference's ``train-00000-of-01024``) or ``DIR/*-{split}.tfrecord*``
  (TFDS' ``imagenet2012-train.tfrecord-00000-of-01024``); any other glob is used for every split.
  Images come from ``image/encoded`` (reference) or ``image`` (TFDS). Labels: the reference's
  ``image/class/label`` is 1-based (ImageNet class 0 is stored as 1), so ``label_offset`` (default
  1) is subtracted from it; TFDS' ``label`` is already 0-based and used as is. Class names come
  from a ``labels.txt`` beside the files (one per line), else they are "0", "1", ...
* ``tfds:NAME[:SPLIT]``: a TFDS dataset already prepared under ``data_dir`` (nothing is
  downloaded). Its first Image and ClassLabel features are used. SPLIT names the TFDS split
  that serves as "validation" (default: ``validation`` if it exists, else ``test``).
* ``folder:PATH``: one sub-folder per class holding .jpg/.jpeg/.png/.gif/.bmp files. If PATH has
  ``train/`` and ``validation/`` (or ``val/``) sub-folders those are the splits, otherwise
  PATH itself is "train".

Split "minival" is the first ``holdout`` examples of "train" in the source's fixed order, and
"train" then skips them, so the two are disjoint and identical across runs. That order is the
sorted file list read by a deterministic interleave (TFRecords), a fixed permutation (folders)
or TFDS' ``train[:N]`` slicing. With a holdout, TFRecord and folder sources shard per worker by
record rather than by file, since the file order must not change.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.data import digits

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
SPLITS = ("train", "validation", "minival")
_CYCLE_LENGTH = 16  # files read in parallel; fixed so that the record order never depends on the machine
# Record counts of the reference / TFDS ImageNet shards, which would take a full read to count.
_KNOWN_COUNTS = {("train", 1024): (1281167, 1000), ("validation", 128): (50000, 1000)}


@dataclasses.dataclass
class Records:
    dataset: tf.data.Dataset  # (image bytes, int32 label), holdout applied, sharded per worker
    num_examples: int  # in the whole split (all workers)
    class_names: Tuple[str, ...]
    crop: preprocessing.CropPolicy = preprocessing.REFERENCE_CROP


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    split: str
    holdout: int
    training: bool
    seed: Optional[int]
    input_context: Optional[tf.distribute.InputContext]
    label_offset: int


def load(source: str, data_dir: Optional[str], options: ReadOptions) -> Records:
    if options.split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {options.split!r}")
    if options.split == "minival" and options.holdout <= 0:
        raise ValueError("split 'minival' needs holdout > 0")
    kind, _, rest = source.partition(":")
    if kind == "digits" and not rest:
        records = _tfrecords(os.path.join(digits.prepare_digits(), "{split}-*"), options)
        return dataclasses.replace(records, crop=digits.CROP)
    if kind == "tfrecord" and rest:
        return _tfrecords(rest, options)
    if kind == "tfds" and rest:
        return _tfds(rest, data_dir, options)
    if kind == "folder" and rest:
        return _folder(rest, options)
    raise ValueError(f"unknown dataset source {source!r}: use digits, tfrecord:GLOB, tfds:NAME[:SPLIT] or folder:PATH")


def _read_split(options: ReadOptions) -> str:
    return "train" if options.split == "minival" else options.split


def _holdout(dataset: tf.data.Dataset, num_examples: int, options: ReadOptions):
    """(dataset, count) of this split, given the ordered train/validation stream."""
    if options.holdout <= 0 or options.split == "validation":
        return dataset, num_examples
    if options.holdout >= num_examples:
        raise ValueError(f"holdout={options.holdout} leaves no training examples out of {num_examples}")
    if options.split == "minival":
        return dataset.take(options.holdout), options.holdout
    return dataset.skip(options.holdout), num_examples - options.holdout


def _shard(dataset: tf.data.Dataset, options: ReadOptions) -> tf.data.Dataset:
    ctx = options.input_context
    if ctx is None or ctx.num_input_pipelines == 1:
        return dataset
    return dataset.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)


def _split_files(pattern: str, split: str):
    if "{split}" in pattern:
        patterns = [pattern.format(split=split)]
    elif os.path.isdir(pattern):
        patterns = [os.path.join(pattern, f"{split}-*"), os.path.join(pattern, f"*-{split}.tfrecord*")]
    else:
        patterns = [pattern]
    files = sorted({f for p in patterns for f in glob.glob(p)})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {patterns}")
    return files


def _parse_example(serialized, label_offset: int):
    features = tf.io.parse_single_example(
        serialized,
        {
            "image/encoded": tf.io.FixedLenFeature([], tf.string, b""),
            "image": tf.io.FixedLenFeature([], tf.string, b""),
            "image/class/label": tf.io.FixedLenFeature([], tf.int64, -1),
            "label": tf.io.FixedLenFeature([], tf.int64, -1),
        },
    )
    reference = features["image/class/label"] >= 0
    image = tf.where(reference, features["image/encoded"], features["image"])
    label = tf.where(reference, features["image/class/label"] - label_offset, features["label"])
    return image, tf.cast(label, tf.int32)


def _count_and_classes(files, split: str, label_offset: int):
    """(num_examples, num_classes) from known ImageNet shard counts, else from one pass over the labels."""
    known = _KNOWN_COUNTS.get((split, len(files)))
    if known and all(re.search(rf"{split}.*-of-{len(files):05d}$", os.path.basename(f)) for f in files):
        return known
    labels = tf.data.TFRecordDataset(files).map(lambda s: _parse_example(s, label_offset)[1])
    count, top = labels.reduce((0, -1), lambda acc, y: (acc[0] + 1, tf.maximum(acc[1], y)))
    return int(count), int(top) + 1


def _tfrecords(pattern: str, options: ReadOptions) -> Records:
    split = _read_split(options)
    files = _split_files(pattern, split)
    num_examples, num_classes = _count_and_classes(files, split, options.label_offset)
    labels_txt = os.path.join(os.path.dirname(files[0]), "labels.txt")
    if os.path.exists(labels_txt):
        with open(labels_txt, encoding="utf-8") as f:
            class_names = tuple(line.strip() for line in f if line.strip())
    else:
        class_names = tuple(str(i) for i in range(num_classes))

    ordered = options.holdout > 0 and options.split != "validation"
    ctx = options.input_context
    shard_files = not ordered and ctx is not None and len(files) >= ctx.num_input_pipelines
    file_ds = tf.data.Dataset.from_tensor_slices(files)
    if shard_files:
        file_ds = _shard(file_ds, options)
    if options.training and not ordered:
        file_ds = file_ds.shuffle(len(files), seed=options.seed, reshuffle_each_iteration=True)
    dataset = file_ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, buffer_size=8 << 20),
        cycle_length=min(_CYCLE_LENGTH, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True if ordered else None,
    )
    dataset, num_examples = _holdout(dataset, num_examples, options)
    if not shard_files:
        dataset = _shard(dataset, options)
    dataset = dataset.map(lambda s: _parse_example(s, options.label_offset), num_parallel_calls=tf.data.AUTOTUNE)
    return Records(dataset, num_examples, class_names)


def _folder(path: str, options: ReadOptions) -> Records:
    split = _read_split(options)
    candidates = [os.path.join(path, split)] + ([os.path.join(path, "val")] if split == "validation" else [])
    root = next((c for c in candidates if os.path.isdir(c)), path if split == "train" else None)
    if root is None:
        raise FileNotFoundError(f"no {split!r} sub-folder under {path}")
    class_names = tuple(sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))))
    if not class_names:
        raise FileNotFoundError(f"no class sub-folders under {root}")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for file in sorted(os.listdir(os.path.join(root, name))):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name, file))
                labels.append(label)
    # A fixed permutation, so that a holdout draws from every class.
    order = np.random.RandomState(0).permutation(len(paths))
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.array(paths, dtype=object)[order].astype(str), np.array(labels, np.int32)[order])
    )
    dataset, num_examples = _holdout(dataset, len(paths), options)
    dataset = _shard(dataset, options)
    if options.training:  # shuffling file names is cheap, so shuffle them all
        dataset = dataset.shuffle(num_examples, seed=options.seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda p, y: (tf.io.read_file(p), y), num_parallel_calls=tf.data.AUTOTUNE)
    return Records(dataset, num_examples, class_names)


def _tfds(spec: str, data_dir: Optional[str], options: ReadOptions) -> Records:
    import tensorflow_datasets as tfds

    name, _, validation_split = spec.partition(":")
    builder = tfds.builder(name, data_dir=data_dir)
    features = builder.info.features
    image_key = next(k for k, f in features.items() if isinstance(f, tfds.features.Image))
    label_key = next(k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel))
    if options.split == "validation":
        tfds_split = validation_split or ("validation" if "validation" in builder.info.splits else "test")
    elif options.holdout > 0:
        tfds_split = f"train[:{options.holdout}]" if options.split == "minival" else f"train[{options.holdout}:]"
    else:
        tfds_split = "train"
    dataset = builder.as_dataset(
        split=tfds_split,
        decoders={image_key: tfds.decode.SkipDecoding()},
        shuffle_files=options.training,
        read_config=tfds.ReadConfig(shuffle_seed=options.seed, interleave_cycle_length=_CYCLE_LENGTH),
    )
    cardinality = int(dataset.cardinality())  # TFDS asserts it; split metadata may be absent (mock_data)
    num_examples = cardinality if cardinality >= 0 else builder.info.splits[tfds_split].num_examples
    dataset = _shard(dataset, options)
    dataset = dataset.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int32)), num_parallel_calls=tf.data.AUTOTUNE)
    return Records(dataset, num_examples, tuple(features[label_key].names))
