"""``folder:PATH`` sources: one sub-folder per class, as users have their photos.

If PATH has ``train/`` (and ``validation/`` or ``val/``) those are the splits. Otherwise PATH itself
(or ``train/`` alone) is split per class: ``validation_split`` of each class's images, chosen by a
hash of the file name, go to ``validation`` and the rest to ``train``, so the split is disjoint and
the same on every run and every machine (adding files moves no others). Every class needs an image.
Folders are listed and read through ``tf.io.gfile``, so PATH may be a URL (``gs://...``).
"""
from __future__ import annotations

import os
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from efficientnet_tf.data import common
from efficientnet_tf.files import join

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


def _listdir(folder: str) -> List[str]:
    """Entry names; an object store's listing ends folder names with "/"."""
    return [name.rstrip("/") for name in tf.io.gfile.listdir(folder)]


def _images_by_class(root: str) -> Dict[str, List[str]]:
    classes = sorted(d for d in _listdir(root) if tf.io.gfile.isdir(join(root, d)))
    if not classes:
        raise FileNotFoundError(f"no class sub-folders under {root}")
    out = {}
    for name in classes:
        files = sorted(f for f in _listdir(join(root, name)) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FileNotFoundError(f"class folder {join(root, name)} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        out[name] = [join(root, name, f) for f in files]
    return out


def _validation_count(n: int, fraction: float) -> int:
    """Images of a class kept for validation: at least 1 and at most n - 1 when the class has two or more."""
    if n < 2:
        return 0
    return min(n - 1, max(1, int(round(n * fraction))))


def split_class(files: List[str], fraction: float) -> Tuple[List[str], List[str]]:
    """(train, validation) of one class's files, chosen by a CRC32 of each file name."""
    ranked = sorted(files, key=lambda f: (zlib.crc32(os.path.basename(f).encode()), f))
    k = _validation_count(len(files), fraction)
    held = set(ranked[:k])
    return [f for f in files if f not in held], [f for f in files if f in held]


def _split_roots(path: str) -> Tuple[str, Optional[str]]:
    train = join(path, "train")
    train_root = train if tf.io.gfile.isdir(train) else path
    validation = next((join(path, d) for d in ("validation", "val") if tf.io.gfile.isdir(join(path, d))), None)
    return train_root, validation


def _listing(path: str, options: common.ReadOptions):
    """(class names, this split's [(file, label)], note) with every class checked."""
    split = common.read_split(options)
    train_root, validation_root = _split_roots(path)
    by_class = _images_by_class(train_root)
    names = tuple(by_class)
    if validation_root is not None:
        if split == "train":
            return names, [(f, i) for i, n in enumerate(names) for f in by_class[n]], f"train: {train_root}"
        val = _images_by_class(validation_root)
        unknown = sorted(set(val) - set(names))
        if unknown:
            raise ValueError(f"{validation_root} has classes {unknown} that {train_root} does not")
        return names, [(f, names.index(n)) for n in val for f in val[n]], f"validation: {validation_root}"
    if options.validation_split <= 0:
        if split == "validation":
            raise FileNotFoundError(f"no 'validation' or 'val' sub-folder under {path}, and validation_split is 0")
        return names, [(f, i) for i, n in enumerate(names) for f in by_class[n]], f"train: all of {train_root}"
    parts = [split_class(by_class[n], options.validation_split) for n in names]
    n_train, n_val = sum(len(t) for t, _ in parts), sum(len(v) for _, v in parts)
    note = (f"{train_root} split per class (validation_split {options.validation_split:g}): "
            f"{n_train} train / {n_val} validation images")
    which = 0 if split == "train" else 1
    return names, [(f, i) for i, p in enumerate(parts) for f in p[which]], note


def load(path: str, options: common.ReadOptions) -> common.Records:
    if not tf.io.gfile.isdir(path):
        raise FileNotFoundError(f"folder source {path} is not a directory")
    names, items, note = _listing(path, options)
    if not items:
        raise FileNotFoundError(f"no {common.read_split(options)!r} images under {path}")
    paths, labels = zip(*items)
    # A fixed permutation, so that a record holdout draws from every class.
    order = np.random.RandomState(0).permutation(len(paths))
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.array(paths, dtype=object)[order].astype(str), np.array(labels, np.int32)[order]))
    dataset, num_examples = common.holdout(dataset, len(paths), options)
    dataset = common.shard(dataset, options)
    if options.training:  # shuffling file names is cheap, so shuffle them all
        dataset = dataset.shuffle(num_examples, seed=options.seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda p, y: (tf.io.read_file(p), y), num_parallel_calls=tf.data.AUTOTUNE)
    num_classes = options.num_classes or len(names)
    classes_from = "--num-classes" if options.num_classes else "the class sub-folders"
    notes = (note, f"{num_examples} images")
    return common.Records(dataset, num_examples, names, num_classes, classes_from, notes, files=tuple(sorted(paths)))
