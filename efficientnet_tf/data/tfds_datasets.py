"""``tfds:NAME[:SPLIT]``: a TensorFlow Datasets dataset, prepared on request by TFDS's own downloader.

A dataset not yet under ``data_dir`` is downloaded and prepared as ``tfds.load`` would (TFDS checks
its registered checksums), behind a file lock so the workers of one run prepare it once. With
``download=False`` or ``EFFICIENTNET_TF_OFFLINE=1`` an unprepared dataset fails at once, naming the
command that prepares it. The first Image and ClassLabel features are used; SPLIT names the TFDS
split that serves as "validation" (default: ``validation`` if it exists, else ``test``).
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import filelock
import tensorflow as tf

from efficientnet_tf.data import common
from efficientnet_tf.data.common import ReadOptions, Records
from efficientnet_tf.offline import OFFLINE_ENV, offline


def prepared_builder(name: str, data_dir: Optional[str], download: bool):
    """The TFDS builder of ``name``, its files on disk: prepared here if need be and allowed."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise ValueError(f"tfds:{name}: no such TFDS dataset ({str(err).splitlines()[0]})") from None
    if builder.is_prepared():
        return builder
    where = os.path.dirname(os.path.dirname(builder.data_dir))  # DATA_DIR/NAME/VERSION -> DATA_DIR
    command = f"tfds build {name} --data_dir {where}"
    if not download or offline():
        why = f"{OFFLINE_ENV}=1 forbids downloading it" if download else "--no-download forbids preparing it here"
        raise FileNotFoundError(f"TFDS dataset {name} is not prepared under {where} and {why}: run `{command}` "
                                "on a machine with network, then point --data-dir at that folder")
    os.makedirs(where, exist_ok=True)
    with filelock.FileLock(os.path.join(where, f".{name.replace('/', '_')}.lock")):
        if not builder.is_prepared():  # another worker may have prepared it while this one waited
            print(f"data: preparing TFDS dataset {name} under {where} (what `{command}` does)", file=sys.stderr,
                  flush=True)
            builder.download_and_prepare()
    return builder


def load(spec: str, data_dir: Optional[str], download: bool, options: ReadOptions) -> Records:
    import tensorflow_datasets as tfds

    name, _, validation_split = spec.partition(":")
    builder = prepared_builder(name, data_dir, download)
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
