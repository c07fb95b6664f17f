"""``build_dataset``: source -> decoded, cropped, augmented, batched ``tf.data.Dataset``."""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Optional, Tuple

import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.data import augment as aug
from efficientnet_tf.data import sources

logger = logging.getLogger(__name__)
AUGMENTS = (None, "autoaugment", "randaugment")


@dataclasses.dataclass
class DatasetInfo:
    """What a trainer needs besides the batches. Counts cover the whole split (all workers)."""

    source: str
    split: str
    num_examples: int
    num_classes: int
    class_names: Tuple[str, ...]
    image_size: int
    batch_size: int  # global batch size
    drop_remainder: bool
    crop: preprocessing.CropPolicy  # what the pipeline used; serving should crop the same way
    _counts: tf.lookup.experimental.MutableHashTable = dataclasses.field(repr=False)

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the split (before any bad images are skipped)."""
        divide = math.floor if self.drop_remainder else math.ceil
        return int(divide(self.num_examples / self.batch_size))

    def skipped(self) -> int:
        """Images skipped as undecodable so far, summed over all passes of this dataset.

        Exact once a pass is complete; mid-pass, images still in the decode stage count as skipped.
        """
        return self._count("read") - self._count("decoded")

    def _count(self, key: str) -> int:
        return int(self._counts.lookup(tf.constant(key)).numpy())

    def log_skipped(self) -> int:
        """Log (warning) and return the skipped count; call it at the end of an epoch."""
        skipped = self.skipped()
        if skipped:
            logger.warning("%s/%s: skipped %d undecodable images out of %d read",
                           self.source, self.split, skipped, self._count("read"))
        return skipped


def _counters() -> tf.lookup.experimental.MutableHashTable:
    """Image counters on the CPU beside tf.data: a table, not a tf.Variable, so that a strategy
    scope cannot mirror it onto accelerators the input pipeline cannot reach."""
    with tf.init_scope(), tf.device("/CPU:0"):
        return tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=0)


def _count(counts: tf.lookup.experimental.MutableHashTable, key: str):
    """Sequential map (read-modify-write is not atomic) adding one to counts[key] per element."""

    def fn(*element):
        key_t = tf.constant(key)
        with tf.control_dependencies([counts.insert(key_t, counts.lookup(key_t) + 1)]):
            return tf.nest.map_structure(tf.identity, element)

    return fn


def _seeds(seed: Optional[int]) -> tf.data.Dataset:
    """Endless [2] int64 seeds: a fixed sequence for a fixed seed, new on every pass (epoch)."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def build_dataset(
    source: str,
    split: str,
    image_size: int,
    batch_size: int,
    training: bool,
    *,
    data_dir: Optional[str] = None,
    augment: Optional[str] = None,
    randaugment_layers: int = 2,
    randaugment_magnitude: float = 10,
    mixup: float = 0.0,
    cutmix: float = 0.0,
    holdout: int = 0,
    seed: Optional[int] = None,
    deterministic: bool = False,
    cache: bool = False,
    input_context: Optional[tf.distribute.InputContext] = None,
    drop_remainder: Optional[bool] = None,
    shuffle_buffer: int = 10_000,
    label_offset: int = 1,
    crop: Optional[preprocessing.CropPolicy] = None,
) -> Tuple[tf.data.Dataset, DatasetInfo]:
    """Batches of ``(images float32 [B, S, S, 3] in 0-255, labels int32 [B])`` and a :class:`DatasetInfo`.

    ``source``/``split``/``holdout``/``label_offset``: see :mod:`efficientnet_tf.data.sources`.
    ``training`` selects the random crop + flip (+ ``augment``, mixup/cutmix, shuffling) over the
    center crop. ``mixup``/``cutmix`` are Beta(alpha, alpha) parameters (0 = off); when either is
    on, training labels become one-hot float32 ``[B, num_classes]``. ``seed`` fixes file order,
    shuffling and every random op; with ``deterministic=True`` as well, two builds give identical
    batches (and each epoch differs from the last). ``cache`` keeps the encoded images in memory
    after the first pass. With ``input_context`` the dataset reads this worker's shard and batches
    at ``input_context.get_per_replica_batch_size(batch_size)``. ``drop_remainder`` defaults to
    ``training``. Undecodable images are skipped and counted (:meth:`DatasetInfo.skipped`).
    ``crop`` overrides the source's crop policy (the reference's, except for ``digits``).
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
    if drop_remainder is None:
        drop_remainder = training
    read = sources.ReadOptions(split, holdout, training, seed, input_context, label_offset)
    records = sources.load(source, data_dir, read)
    num_classes = len(records.class_names)
    crop = crop or records.crop
    info = DatasetInfo(source, split, records.num_examples, num_classes, records.class_names, image_size,
                       batch_size, drop_remainder, crop, _counters())

    dataset = records.dataset
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, _seeds(seed))
    else:
        dataset = dataset.map(lambda image, label: ((image, label), tf.zeros([2], tf.int64)))

    def preprocess(record, element_seed):
        image_bytes, label = record
        if not training:
            return preprocessing.preprocess_for_eval(image_bytes, image_size, crop.crop_padding), label
        crop_seed, augment_seed = tf.unstack(tf.random.experimental.stateless_split(element_seed, 2))
        image = preprocessing.preprocess_for_train(image_bytes, image_size, seed=crop_seed, crop=crop)
        if augment == "autoaugment":
            image = aug.autoaugment(image, augment_seed)
        elif augment == "randaugment":
            image = aug.randaugment(image, randaugment_layers, randaugment_magnitude, augment_seed)
        return image, label

    dataset = dataset.map(_count(info._counts, "read"))
    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.ignore_errors(log_warning=True)
    dataset = dataset.map(_count(info._counts, "decoded"))

    per_replica = input_context.get_per_replica_batch_size(batch_size) if input_context else batch_size
    dataset = dataset.batch(per_replica, drop_remainder=drop_remainder)
    if training and (mixup > 0 or cutmix > 0):
        mix_seed = None if seed is None else seed + 1
        dataset = tf.data.Dataset.zip(dataset, _seeds(mix_seed)).map(
            lambda batch, s: aug.mix_batch(batch[0], batch[1], num_classes, mixup, cutmix, s),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    return dataset.with_options(options), info
