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
* ``tfds:NAME[:SPLIT]``: a TFDS dataset under ``data_dir``, prepared on request, see
  :mod:`efficientnet_tf.data.tfds_datasets`.
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


from efficientnet_tf.data import common, digits, folders, tfds_datasets, tfrecords
from efficientnet_tf.data.common import ReadOptions, Records

SPLITS = common.SPLITS


def load(source: str, data_dir: Optional[str], options: ReadOptions, download: bool = False) -> Records:
    """The records of ``source``; ``download`` lets TFDS prepare a ``tfds:`` dataset that is not on disk."""
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
        return tfds_datasets.load(rest, data_dir, download, options)
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
