"""``build_dataset``: source -> decoded, cropped, augmented, batched ``tf.data.Dataset``."""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.data import augment as aug
from efficientnet_tf.data import mixing
from efficientnet_tf.data import common, sources
from efficientnet_tf.data.config import AUGMENTS, RANDAUGMENT_MAGNITUDE, PipelineConfig


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
    classes_from: str = ""  # where num_classes came from (--num-classes, labels.txt, ...), for the log
    notes: Tuple[str, ...] = ()  # counts, for the run's log
    files: Tuple[str, ...] = ()  # the files this split reads (all workers), where it reads files

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the split (before any bad images are skipped)."""
        divide = math.floor if self.drop_remainder else math.ceil
        return int(divide(self.num_examples / self.batch_size))


def decode_chunk(image_size: int) -> int:
    """Records decoded per isolated dataset: isolating a decode costs about as much as decoding a 224 px
    image (a quarter of the pipeline's rate, paid per image), so it is paid once per chunk of about
    64 such images' pixels, 8 at least."""
    return max(8, min(64, 64 * 224 * 224 // (image_size * image_size)))


def _failures(index, first):
    """Per decoded row (``index``: its position among the chunk's elements), the first-pass elements
    that failed since the row before; and those that failed after the last row."""
    ok = tf.scatter_nd(index[:, None], tf.ones_like(index), tf.shape(first))
    failed = tf.where(first, tf.cast(1 - ok, tf.int64), 0)
    before = tf.gather(tf.cumsum(failed, exclusive=True), index)
    credit = before - tf.concat([tf.zeros([1], tf.int64), before[:-1]], 0)
    return credit, tf.reduce_sum(failed) - tf.reduce_sum(credit)


def _carry(pending, chunk):
    """A ``scan`` step: failures no row of their chunk could take go to the first row of a later chunk."""
    rows, credit, trailing = chunk
    credit += pending * tf.one_hot(0, tf.size(credit), dtype=tf.int64)
    return tf.where(tf.size(credit) > 0, trailing, pending + trailing), (rows, credit)


def _decode_in_chunks(dataset, decode, augment, chunk_size, trailer):
    """Batches of ``(augment(decode(record, seed)), credit)``, dropping only elements whose decode fails.

    Elements are decoded in chunks, each in a dataset of its own whose ``ignore_errors`` sees nothing
    but those decodes: an error anywhere else (reading, augmentation, labels) still propagates. Each
    chunk comes back, in order, as one batch of up to ``chunk_size`` rows. ``credit`` (int64 per row)
    counts the failures of the stream's first pass since the row before, so that a sum over the rows
    taken counts each failure before them once. With ``trailer`` (a finite stream) a last chunk of one
    placeholder row takes the failures after the last decoded row; rows are then ``(image, label, real)``,
    ``real`` False for the placeholder.
    """
    def chunk(records, seeds, first):  # sequential inside: the chunks run in parallel
        elements = tf.data.Dataset.from_tensor_slices((records, seeds, tf.range(tf.size(first))))
        decoded = elements.map(lambda record, seed, i: (decode(record, seed), i)).ignore_errors()
        decoded = decoded.map(lambda image_label_seed, i: (augment(*image_label_seed), i))
        empty = tf.nest.map_structure(lambda s: tf.zeros([0, *s.shape], s.dtype), decoded.element_spec)
        batch = decoded.batch(chunk_size).concatenate(tf.data.Dataset.from_tensors(empty)).take(1)
        return batch.map(lambda rows, index: (rows, *_failures(index, first)))

    chunks = dataset.batch(chunk_size).interleave(  # in order: the failures' place in the stream is exact
        chunk, cycle_length=tf.data.AUTOTUNE, block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    if not trailer:
        return chunks.scan(tf.constant(0, tf.int64), _carry)
    image, label = (tf.zeros([1, *spec.shape[1:]], spec.dtype) for spec in chunks.element_spec[0])
    placeholder = ((image, label, tf.constant([False])), tf.zeros([1], tf.int64), tf.constant(0, tf.int64))
    chunks = chunks.map(lambda rows, credit, trailing: ((*rows, tf.ones_like(credit, tf.bool)), credit, trailing))
    chunks = chunks.concatenate(tf.data.Dataset.from_tensors(placeholder)).scan(tf.constant(0, tf.int64), _carry)
    # Chunks with no row left (their failures carried on), and the placeholder unless it took some.
    return chunks.filter(lambda rows, credit: tf.reduce_any(rows[2]) | tf.reduce_any(credit > 0))


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


def _first_pass(dataset, repeat):
    """``(*element, first)``: ``first`` is True on the stream's first pass (the one an epoch is for);
    ``repeat`` makes the stream endless, each pass reshuffled (``dataset`` is iterated anew)."""
    if not repeat:
        return dataset.map(lambda *element: (*element, True))

    def count(passes, indexed):
        index, element = indexed
        passes += tf.cast(tf.equal(index, 0), tf.int64)
        return passes, (*element, tf.equal(passes, 0))

    return dataset.enumerate().repeat().scan(tf.constant(-1, tf.int64), count)


def _order(dataset, training, seed, shuffle_buffer, repeat, skip):
    """Shuffled (training) ``((image_bytes, label), element_seed, first)``, passes marked by
    :func:`_first_pass`; its first ``skip`` records are dropped before decode."""
    if training:
        dataset = tf.data.Dataset.zip(dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True),
                                      _seeds(seed))
    else:
        dataset = dataset.map(lambda image, label: ((image, label), tf.zeros([2], tf.int64)))
    dataset = _first_pass(dataset, repeat)
    return dataset.skip(skip) if skip else dataset


def _decoded(dataset, training, image_size, crop, config: PipelineConfig, image_dtype, trailer):
    """Chunks (``decode_chunk`` at most) of decoded, cropped and augmented ``image_dtype`` images, as
    :func:`_decode_in_chunks` gives them; only the decode (and crop) may skip an image: augmentation runs
    after it, where errors propagate."""
    magnitude = RANDAUGMENT_MAGNITUDE if config.randaugment_magnitude is None else config.randaugment_magnitude

    def decode(record, element_seed):
        image_bytes, label = record
        if training:
            crop_seed = tf.random.experimental.stateless_split(element_seed, 2)[0]
            image = preprocessing.preprocess_for_train(image_bytes, image_size, seed=crop_seed, crop=crop)
        else:
            image = preprocessing.preprocess_for_eval(image_bytes, image_size, crop.crop_padding)
        return preprocessing.to_dtype(image, image_dtype), label, element_seed

    def augment_fn(image, label, element_seed):
        augment_seed = tf.random.experimental.stateless_split(element_seed, 2)[1]
        if config.augment == "autoaugment":
            image = aug.autoaugment(image, augment_seed)
        elif config.augment == "randaugment":
            image = aug.randaugment(image, config.randaugment_layers, magnitude, augment_seed)
        return image, label

    return _decode_in_chunks(dataset, decode, augment_fn, decode_chunk(image_size), trailer)


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
    image_dtype: tf.DType = tf.uint8,
    count_skips: bool = False,
) -> Tuple[tf.data.Dataset, DatasetInfo]:
    """Batches of ``(images uint8 [B, S, S, 3], labels int32 [B])`` and a :class:`DatasetInfo`.

    ``config`` holds the settings (see :class:`PipelineConfig` and :mod:`efficientnet_tf.data.sources`);
    the keywords describe this one stream. ``training`` selects the random crop + flip (+ augmentation,
    mixup/cutmix, shuffling) over the center crop; with mixup or cutmix on, training labels are one-hot
    float32 ``[B, num_classes]``. A label outside ``[0, num_classes)`` or a missing label key stops
    iteration with an InvalidArgumentError at its batch. ``seed`` fixes file order, shuffling and every
    random op; with ``config.deterministic`` as well, two builds give identical batches (and each epoch
    differs from the last). With ``input_context`` the dataset reads this worker's shard and batches at
    ``input_context.get_per_replica_batch_size(batch_size)``. ``drop_remainder`` defaults to
    ``training``. ``crop`` overrides the source's crop policy (the reference's, except for ``digits``).
    Images are rounded to ``image_dtype`` uint8 (a quarter of float32's bytes to the device; the model
    casts and normalizes) after augmentation and again after mixup; ``tf.float32`` keeps them unrounded.

    Training only: ``repeat`` gives an endless stream of passes, batched across pass ends (what a
    trainer's epoch draws from); ``skip_batches`` drops that many batches from its start, as encoded
    records before any decode, so a resumed epoch continues where it stopped: exactly, when
    deterministic and when no image was undecodable among those skipped.

    Only undecodable images are skipped. With ``count_skips`` each batch is ``(images, labels, skipped)``,
    ``skipped`` an int64 scalar: the undecodable images of the stream's first pass since the batch
    before, so that the sum over the batches taken counts those before the last row taken, each once,
    whatever the timing and parallelism. With ``repeat`` that is the epoch's own pass: ``steps_per_epoch``
    batches count the whole split (this pipeline's shard) when they reach past the pass's end, as they do
    once more images fail than ``num_examples % batch_size``. A finite stream without ``drop_remainder``
    (evaluation) counts every undecodable image over all its batches: the last ones in the last batch,
    or in a batch of zero rows (also when nothing decodes). With ``drop_remainder`` those after the last
    full batch are dropped with it; ``skip_batches`` drops those among the records it skips.
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
        classes_from=records.classes_from, notes=records.notes, files=records.files)
    trailer = count_skips and not (repeat or info.drop_remainder)
    per_replica = input_context.get_per_replica_batch_size(batch_size) if input_context else batch_size
    dataset = _order(records.dataset, training, seed, config.shuffle_buffer, repeat, skip_batches * per_replica)
    dataset = _decoded(dataset, training, image_size, info.crop, config, image_dtype, trailer)
    dataset = dataset.rebatch(per_replica, drop_remainder=info.drop_remainder)

    def batch(rows, credit):
        images, labels, *real = rows
        if real:  # the trailer's placeholder row, the stream's last
            kept = tf.reduce_sum(tf.cast(real[0], tf.int32))
            images, labels = images[:kept], labels[:kept]
        labels = check_labels(labels, info.num_classes, source, config.label_offset)
        return (images, labels, tf.reduce_sum(credit)) if count_skips else (images, labels)

    dataset = dataset.map(batch)
    if training and (config.mixup > 0 or config.cutmix > 0):
        mix_seeds = _seeds(None if seed is None else seed + 1).skip(skip_batches)
        dataset = tf.data.Dataset.zip(dataset, mix_seeds).map(
            lambda batch, s: (*mixing.mix_batch(batch[0], batch[1], info.num_classes, config.mixup, config.cutmix, s),
                              *batch[2:]),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)  # in order: each batch's count stays in place
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = config.deterministic
    return dataset.with_options(options), info
