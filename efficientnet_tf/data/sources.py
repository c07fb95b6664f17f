"""Dataset sources -> a stream of (encoded image bytes, 0-based int32 label) plus its metadata.

Source strings (as ``train.py --dataset`` takes them):

* ``digits``: scikit-learn's digits, see :mod:`efficientnet_tf.data.digits`.
* ``tfrecord:GLOB``: ``tf.train.Example`` files, see :mod:`efficientnet_tf.data.tfrecords`. GLOB may
  contain ``{split}``; a directory means ``DIR/{split}-*`` (the reference's ``train-00000-of-01024``)
  or ``DIR/*-{split}.tfrecord*`` (TFDS' ``imagenet2012-train.tfrecord-00000-of-01024``); any other
  glob is used for every split. Images come from ``image/encoded`` (reference) or ``image`` (TFDS).
  Labels: the reference's ``image/class/label`` is 1-based (ImageNet class 0 is stored as 1), so
  ``label_offset`` (default 1) is subtracted from it; TFDS' ``label`` is already 0-based and used as
  is. Class names come from a ``labels.txt`` beside the files (one per line), else "0", "1", ...
* ``tfds:NAME[:SPLIT]``: a TFDS dataset already prepared under ``data_dir`` (nothing is
  downloaded). Its first Image and ClassLabel features are used. SPLIT names the TFDS split
  that serves as "validation" (default: ``validation`` if it exists, else ``test``).
* ``folder:PATH``: one sub-folder per class, see :mod:`efficientnet_tf.data.folders`.

Split "minival" is held out of "train", disjoint from it and identical across runs: the first
``holdout_shards`` sorted files (TFRecords), or the first ``holdout`` examples in the source's fixed
order (a deterministic interleave of the sorted files, a fixed permutation of a folder's images, or
TFDS' ``train[:N]`` slicing). With a record holdout, TFRecords shard per worker by record rather than
by file, since the file order must not change.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import tensorflow as tf

from efficientnet_tf.data import common, digits, folders, tfrecords
from efficientnet_tf.data.common import ReadOptions, Records

SPLITS = common.SPLITS


def load(source: str, data_dir: Optional[str], options: ReadOptions) -> Records:
    if options.split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {options.split!r}")
    if options.holdout > 0 and options.holdout_shards > 0:
        raise ValueError("give holdout (records) or holdout_shards (files), not both")
    if options.split == "minival" and options.holdout <= 0 and options.holdout_shards <= 0:
        raise ValueError("split 'minival' needs holdout > 0 or holdout_shards > 0")
    kind, _, rest = source.partition(":")
    if options.holdout_shards > 0 and kind not in ("digits", "tfrecord"):
        raise ValueError(f"holdout_shards needs TFRecord files; {source!r} has none: use holdout (records)")
    if kind == "digits" and not rest:
        records = tfrecords.load(os.path.join(digits.prepare_digits(), "{split}-*"), options)
        return dataclasses.replace(records, crop=digits.CROP)
    if kind == "tfrecord" and rest:
        return tfrecords.load(rest, options)
    if kind == "tfds" and rest:
        return _tfds(rest, data_dir, options)
    if kind == "folder" and rest:
        return folders.load(rest, options)
    raise ValueError(f"unknown dataset source {source!r}: use digits, tfrecord:GLOB, tfds:NAME[:SPLIT] or folder:PATH")


def describe_holdout(source: str, holdout: int, holdout_shards: int) -> str:
    """What ``minival`` will be, from the file names alone (a dry run reads no data)."""
    if holdout > 0:
        return f"minival: the first {holdout:,} training records (record holdout)"
    if holdout_shards <= 0:
        return "minival: none (the best checkpoint is picked on validation)"
    text = f"minival: the first {holdout_shards} sorted train files (shard holdout)"
    kind, _, rest = source.partition(":")
    try:
        files = tfrecords.split_files(rest, "train") if kind == "tfrecord" else []
    except FileNotFoundError:
        files = []
    known = tfrecords.known_count("minival", files, holdout_shards) if files else None
    if known is None and not files:  # no files here yet: say what the standard layout gives
        known = tfrecords.known_count("minival", [f"train-{i:05d}-of-01024" for i in range(1024)], holdout_shards)
        where = "expected with the standard 1,024-file ImageNet layout"
    else:
        where = f"{len(files)} train files found"
    count = f"{known:,} images" if known is not None else "counted at start"
    return f"{text}: {count} ({where})"


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
        read_config=tfds.ReadConfig(shuffle_seed=options.seed, interleave_cycle_length=16),
    )
    cardinality = int(dataset.cardinality())  # TFDS asserts it; split metadata may be absent (mock_data)
    num_examples = cardinality if cardinality >= 0 else builder.info.splits[tfds_split].num_examples
    dataset = common.shard(dataset, options)
    dataset = dataset.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int32)), num_parallel_calls=tf.data.AUTOTUNE)
    names = tuple(features[label_key].names)
    num_classes = options.num_classes or len(names)
    classes_from = "--num-classes" if options.num_classes else "the TFDS ClassLabel"
    return Records(dataset, num_examples, names, num_classes, classes_from, (f"TFDS {tfds_split}, {num_examples} images",))
