"""``tfrecord:`` sources: reference (``image/encoded``, 1-based ``image/class/label``) or TFDS files.

Files are found, sized and read through ``tf.io.gfile``, so a pattern may be a URL (``gs://...``).

Holdouts: ``holdout_shards=N`` makes the first N sorted train files ``minival`` and the rest
``train``, so files are still shuffled every epoch and sharded per worker (the reference's
``--holdout_shards``: 20 of 1,024 files, 25,022 images). Record-level ``holdout`` reads the files in
one fixed order instead, and shards per worker by record.
"""
from __future__ import annotations

import functools
import os
import re

import tensorflow as tf

from efficientnet_tf.data import common
from efficientnet_tf.files import join

_CYCLE_LENGTH = 16  # files read in parallel; fixed so that the record order never depends on the machine
IMAGENET_CLASSES = 1000
# (split, files in the split, holdout_shards) -> records, for the reference / TFDS ImageNet layouts,
# which would take a full read to count.
_KNOWN_COUNTS = {("train", 1024, 0): 1281167, ("validation", 128, 0): 50000,
                 ("minival", 1024, 20): 25022, ("train", 1024, 20): 1281167 - 25022}


def split_files(pattern: str, split: str):
    if "{split}" in pattern:
        patterns = [pattern.format(split=split)]
    elif tf.io.gfile.isdir(pattern):
        patterns = [join(pattern, f"{split}-*"), join(pattern, f"*-{split}.tfrecord*")]
    else:
        patterns = [pattern]
    files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
    if not files:
        raise FileNotFoundError(f"no TFRecord files for split {split!r} match {patterns}")
    return files


def known_count(split: str, files, holdout_shards: int):
    """Records of ``split`` when ``files`` are the standard ImageNet layout, else None."""
    n = len(files)
    named = all(re.search(r"-of-%05d$" % n, os.path.basename(f)) for f in files)
    return _KNOWN_COUNTS.get((split, n, holdout_shards)) if named else None


def parse_example(serialized, label_offset: int):
    """(image bytes, int32 label); a record with neither label key gets :data:`common.MISSING_LABEL`."""
    missing = common.MISSING_LABEL
    features = tf.io.parse_single_example(
        serialized,
        {
            "image/encoded": tf.io.FixedLenFeature([], tf.string, b""),
            "image": tf.io.FixedLenFeature([], tf.string, b""),
            "image/class/label": tf.io.FixedLenFeature([], tf.int64, missing),
            "label": tf.io.FixedLenFeature([], tf.int64, missing),
        },
    )
    image = tf.where(tf.strings.length(features["image/encoded"]) > 0, features["image/encoded"], features["image"])
    reference = features["image/class/label"] != missing
    label = tf.where(reference, features["image/class/label"] - label_offset, features["label"])
    return image, tf.cast(label, tf.int32)


def _count(files, label_offset: int):
    """(records, largest label) in one pass over the labels; remembered per unchanged set of files,
    since a trainer opens its training split again every epoch."""
    stats = [(f, tf.io.gfile.stat(f)) for f in files]
    stamps = tuple((f, s.mtime_nsec, s.length) for f, s in stats)
    return _count_once(stamps, label_offset)


@functools.lru_cache(maxsize=64)
def _count_once(stamps, label_offset: int):
    labels = tf.data.TFRecordDataset([f for f, _, _ in stamps]).map(lambda s: parse_example(s, label_offset)[1])
    count, top = labels.reduce((0, -1), lambda acc, y: (acc[0] + 1, tf.maximum(acc[1], y)))
    return int(count), int(top)


def _select_files(files, options: common.ReadOptions):
    """This split's files: with holdout_shards, minival is the first N train files, train the rest."""
    n = options.holdout_shards
    if n <= 0 or options.split == "validation":
        return files
    if n >= len(files):
        raise ValueError(f"holdout_shards={n} leaves no training files out of {len(files)}")
    return files[:n] if options.split == "minival" else files[n:]


def _classes(files, count_and_top, options: common.ReadOptions, imagenet: bool):
    labels_txt = join(os.path.dirname(files[0]), "labels.txt")
    names = None
    if tf.io.gfile.exists(labels_txt):
        with tf.io.gfile.GFile(labels_txt) as f:
            names = tuple(line.strip() for line in f if line.strip())
    if options.num_classes:
        return options.num_classes, "--num-classes", names
    if names:
        return len(names), f"labels.txt ({labels_txt})", names
    if imagenet:
        return IMAGENET_CLASSES, "the known ImageNet layout", None
    return count_and_top()[1] + 1, "the largest label seen + 1", None


def load(pattern: str, options: common.ReadOptions) -> common.Records:
    split = common.read_split(options)
    all_files = split_files(pattern, split)
    files = _select_files(all_files, options)
    if split == "train":
        known = known_count(options.split, all_files, options.holdout_shards)
    else:
        known = known_count(split, all_files, 0)
    counted = {}

    def count_and_top():
        if not counted:
            counted["v"] = _count(files, options.label_offset)
        return counted["v"]

    num_classes, classes_from, names = _classes(files, count_and_top, options, known is not None)
    num_examples = known if known is not None else count_and_top()[0]

    ordered = options.holdout > 0 and options.split != "validation"
    ctx = options.input_context
    shard_files = not ordered and ctx is not None and len(files) >= ctx.num_input_pipelines
    file_ds = tf.data.Dataset.from_tensor_slices(files)
    if shard_files:
        file_ds = common.shard(file_ds, options)
    if options.training and not ordered:
        file_ds = file_ds.shuffle(len(files), seed=options.seed, reshuffle_each_iteration=True)
    dataset = file_ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, buffer_size=8 << 20),
        cycle_length=min(_CYCLE_LENGTH, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True if ordered else None,
    )
    dataset, num_examples = common.holdout(dataset, num_examples, options)
    if not shard_files:
        dataset = common.shard(dataset, options)
    dataset = dataset.map(lambda s: parse_example(s, options.label_offset), num_parallel_calls=tf.data.AUTOTUNE)
    notes = (f"{len(files)} files, {num_examples} images",)
    if not names or len(names) != num_classes:
        names = tuple(str(i) for i in range(num_classes))
    return common.Records(dataset, num_examples, names, num_classes, classes_from, notes, files=tuple(files))
