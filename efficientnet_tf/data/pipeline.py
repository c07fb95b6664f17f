"""``build_dataset``: source -> decoded, cropped, augmented, batched ``tf.data.Dataset``."""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Optional, Tuple

import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.data import augment as aug
from efficientnet_tf.data import mixing
from efficientnet_tf.data import common, sources
from efficientnet_tf.data.config import AUGMENTS, RANDAUGMENT_MAGNITUDE, PipelineConfig

logger = logging.getLogger(__name__)


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
    classes_from: str = ""  # where num_classes came from (--num-classes, labels.txt, ...), for the log
    notes: Tuple[str, ...] = ()  # counts, for the run's log
    files: Tuple[str, ...] = ()  # the files this split reads (all workers), where it reads files

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the split (before any bad images are skipped)."""
        divide = math.floor if self.drop_remainder else math.ceil
        return int(divide(self.num_examples / self.batch_size))

    def skipped(self) -> int:
        """Images skipped as undecodable so far, summed over all passes of this dataset (exact)."""
        return int(self._counts.lookup(tf.constant("skipped")).numpy())

    def log_skipped(self) -> int:
        """Log (warning) and return the skipped count; call it at the end of an epoch."""
        skipped = self.skipped()
        if skipped:
            logger.warning("%s/%s: skipped %d undecodable images", self.source, self.split, skipped)
        return skipped


def _counters() -> tf.lookup.experimental.MutableHashTable:
    """Image counters on the CPU beside tf.data: a table, not a tf.Variable, so that a strategy
    scope cannot mirror it onto accelerators the input pipeline cannot reach."""
    with tf.init_scope(), tf.device("/CPU:0"):
        return tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=0)


def decode_chunk(image_size: int) -> int:
    """Records decoded per isolated dataset: isolating a decode costs about as much as decoding a 224 px
    image (a quarter of the pipeline's rate, paid per image), so it is paid once per chunk of about
    64 such images' pixels, 8 at least."""
    return max(8, min(64, 64 * 224 * 224 // (image_size * image_size)))


def _rows(structure):
    return tf.shape(tf.nest.flatten(structure)[0])[0]


def _decode_in_chunks(dataset, decode, augment, placeholder, counts, deterministic, chunk_size):
    """Batches of ``augment(decode(element))``, dropping (and counting) only elements whose decode fails.

    Elements are decoded in chunks, each in a dataset of its own whose ``ignore_errors`` sees nothing
    but those decodes: an error anywhere else (reading, augmentation, labels) still propagates. Each
    chunk comes back, in order, as one batch of up to ``chunk_size`` images with how many of its
    elements failed.
    """
    def chunk(*elements):  # sequential inside: the chunks run in parallel
        decoded = tf.data.Dataset.from_tensor_slices(elements).map(decode).ignore_errors().map(augment)
        empty = tf.nest.map_structure(lambda t: tf.zeros(tf.concat([[0], tf.shape(t)], 0), t.dtype),
                                      placeholder(*tf.nest.map_structure(lambda t: t[0], elements)))
        batch = decoded.batch(chunk_size).concatenate(tf.data.Dataset.from_tensors(empty)).take(1)
        return batch.map(lambda *b: (b, tf.cast(_rows(elements) - _rows(b), tf.int64)))

    def count(batch, failed):  # sequential: the table's read-modify-write is not atomic
        key = tf.constant("skipped")
        with tf.control_dependencies([counts.insert(key, counts.lookup(key) + failed)]):
            return tf.nest.map_structure(tf.identity, batch)

    dataset = dataset.batch(chunk_size).interleave(
        chunk, cycle_length=tf.data.AUTOTUNE, block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic)
    return dataset.map(count)


def check_labels(labels, num_classes: int, source: str, label_offset: int):
    """``labels`` unchanged, or an InvalidArgumentError naming the first bad label, the source and the offset."""
    bad = tf.logical_or(labels < 0, labels >= num_classes)

    def fail():
        first = tf.boolean_mask(labels, bad)[0]
        text = tf.strings.join([
            "bad label: class ", tf.strings.as_string(first), f" is outside [0, {num_classes}) in {source} "
            f"(label_offset={label_offset}, subtracted from image/class/label; "
            f"class {common.MISSING_LABEL} means the record has no image/class/label or label key)"])
        with tf.control_dependencies([tf.debugging.Assert(False, [text])]):
            return tf.identity(labels)

    return tf.cond(tf.reduce_any(bad), fail, lambda: labels)


def _seeds(seed: Optional[int]) -> tf.data.Dataset:
    """Endless [2] int64 seeds: a fixed sequence for a fixed seed, new on every pass (epoch)."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def _order(dataset, training, seed, shuffle_buffer, repeat, skip):
    """Shuffled (training) ``((image_bytes, label), element_seed)`` pairs; ``repeat`` makes the
    stream endless (each pass reshuffled) and its first ``skip`` records are dropped before decode."""
    if not training:
        return dataset.map(lambda image, label: ((image, label), tf.zeros([2], tf.int64)))
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, _seeds(seed))
    if repeat:
        dataset = dataset.repeat()
    return dataset.skip(skip) if skip else dataset


def _decoded(dataset, training, image_size, crop, config: PipelineConfig, counts):
    """Batches (``decode_chunk`` at most) of decoded, cropped and augmented ``(image, label)``; only
    the decode (and crop) may skip an image: augmentation runs after it, where errors propagate."""
    magnitude = RANDAUGMENT_MAGNITUDE if config.randaugment_magnitude is None else config.randaugment_magnitude

    def decode(record, element_seed):
        image_bytes, label = record
        if not training:
            return preprocessing.preprocess_for_eval(image_bytes, image_size, crop.crop_padding), label, element_seed
        crop_seed = tf.random.experimental.stateless_split(element_seed, 2)[0]
        return preprocessing.preprocess_for_train(image_bytes, image_size, seed=crop_seed, crop=crop), label, element_seed

    def placeholder(record, element_seed):
        return tf.zeros([image_size, image_size, 3], tf.float32), record[1]

    def augment_fn(image, label, element_seed):
        augment_seed = tf.random.experimental.stateless_split(element_seed, 2)[1]
        if config.augment == "autoaugment":
            image = aug.autoaugment(image, augment_seed)
        elif config.augment == "randaugment":
            image = aug.randaugment(image, config.randaugment_layers, magnitude, augment_seed)
        return image, label

    return _decode_in_chunks(dataset, decode, augment_fn, placeholder, counts, config.deterministic,
                             decode_chunk(image_size))


def build_dataset(
    source: str,
    split: str,
    image_size: int,
    batch_size: int,
    training: bool,
    config: Optional[PipelineConfig] = None,
    *,
    seed: Optional[int] = None,
    input_context: Optional[tf.distribute.InputContext] = None,
    drop_remainder: Optional[bool] = None,
    crop: Optional[preprocessing.CropPolicy] = None,
    repeat: bool = False,
    skip_batches: int = 0,
) -> Tuple[tf.data.Dataset, DatasetInfo]:
    """Batches of ``(images float32 [B, S, S, 3] in 0-255, labels int32 [B])`` and a :class:`DatasetInfo`.

    ``config`` holds the settings (see :class:`PipelineConfig` and :mod:`efficientnet_tf.data.sources`);
    the keywords describe this one stream. ``training`` selects the random crop + flip (+ augmentation,
    mixup/cutmix, shuffling) over the center crop; with mixup or cutmix on, training labels are one-hot
    float32 ``[B, num_classes]``. A label outside ``[0, num_classes)`` or a missing label key stops
    iteration with an InvalidArgumentError at its batch. ``seed`` fixes file order, shuffling and every
    random op; with ``config.deterministic`` as well, two builds give identical batches (and each epoch
    differs from the last). With ``input_context`` the dataset reads this worker's shard and batches at
    ``input_context.get_per_replica_batch_size(batch_size)``. ``drop_remainder`` defaults to
    ``training``. Only undecodable images are skipped, and counted (:meth:`DatasetInfo.skipped`).
    ``crop`` overrides the source's crop policy (the reference's, except for ``digits``).

    Training only: ``repeat`` gives an endless stream of passes, batched across pass ends (what a
    trainer's epoch draws from); ``skip_batches`` drops that many batches from its start, as encoded
    records before any decode, so a resumed epoch continues where it stopped: exactly, when
    deterministic and when no image was undecodable among those skipped.
    """
    config = config or PipelineConfig()
    if config.augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {config.augment!r}")
    if (repeat or skip_batches) and not training:
        raise ValueError("repeat and skip_batches are for training datasets")
    read = common.ReadOptions.of(config, split=split, training=training, seed=seed, input_context=input_context)
    records = sources.load(source, config.data_dir, read, download=config.download)
    info = DatasetInfo(
        source=source, split=split, num_examples=records.num_examples, num_classes=records.num_classes,
        class_names=records.class_names, image_size=image_size, batch_size=batch_size,
        drop_remainder=training if drop_remainder is None else drop_remainder, crop=crop or records.crop,
        _counts=_counters(), classes_from=records.classes_from, notes=records.notes, files=records.files)
    per_replica = input_context.get_per_replica_batch_size(batch_size) if input_context else batch_size
    dataset = _order(records.dataset, training, seed, config.shuffle_buffer, repeat, skip_batches * per_replica)
    dataset = _decoded(dataset, training, image_size, info.crop, config, info._counts)
    dataset = dataset.rebatch(per_replica, drop_remainder=info.drop_remainder)
    dataset = dataset.map(lambda x, y: (x, check_labels(y, info.num_classes, source, config.label_offset)))
    if training and (config.mixup > 0 or config.cutmix > 0):
        mix_seeds = _seeds(None if seed is None else seed + 1).skip(skip_batches)
        dataset = tf.data.Dataset.zip(dataset, mix_seeds).map(
            lambda batch, s: mixing.mix_batch(batch[0], batch[1], info.num_classes, config.mixup, config.cutmix, s),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = config.deterministic
    return dataset.with_options(options), info
