"""What every source returns (:class:`Records`) and takes (:class:`ReadOptions`), and the record holdout."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import tensorflow as tf

from efficientnet_tf import preprocessing
from efficientnet_tf.data.config import PipelineConfig

SPLITS = ("train", "validation", "minival")
MISSING_LABEL = -(2 ** 31)  # the label of a record with no label key; the pipeline stops on it


@dataclasses.dataclass
class Records:
    dataset: tf.data.Dataset  # (image bytes, int32 label), holdout applied, sharded per worker
    num_examples: int  # in the whole split (all workers)
    class_names: Tuple[str, ...]
    num_classes: int
    classes_from: str = ""  # where num_classes came from (--num-classes, labels.txt, ...), for the log
    notes: Tuple[str, ...] = ()  # counts, for the log
    crop: preprocessing.CropPolicy = preprocessing.REFERENCE_CROP
    files: Tuple[str, ...] = ()  # the files this split reads (all workers), where it reads files


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReadOptions:
    """One read of a source; no defaults here, so the settings' defaults stay in :mod:`.config`."""

    split: str
    training: bool
    seed: Optional[int]
    input_context: Optional[tf.distribute.InputContext]
    holdout: int
    holdout_shards: int
    validation_split: float
    label_offset: int
    num_classes: Optional[int]

    @classmethod
    def of(cls, config: PipelineConfig, *, split: str, training: bool, seed: Optional[int],
           input_context: Optional[tf.distribute.InputContext]) -> "ReadOptions":
        """The read that ``config`` asks for, of ``split``."""
        return cls(split=split, training=training, seed=seed, input_context=input_context, holdout=config.holdout,
                   holdout_shards=config.holdout_shards, validation_split=config.validation_split,
                   label_offset=config.label_offset, num_classes=config.num_classes)


def read_split(options: ReadOptions) -> str:
    """The split a source reads: minival comes out of train."""
    return "train" if options.split == "minival" else options.split


def holdout(dataset: tf.data.Dataset, num_examples: int, options: ReadOptions):
    """(dataset, count) of this split, given the ordered train/validation stream."""
    if options.holdout <= 0 or options.split == "validation":
        return dataset, num_examples
    if options.holdout >= num_examples:
        raise ValueError(f"holdout={options.holdout} leaves no training examples out of {num_examples}")
    if options.split == "minival":
        return dataset.take(options.holdout), options.holdout
    return dataset.skip(options.holdout), num_examples - options.holdout


def shard(dataset: tf.data.Dataset, options: ReadOptions) -> tf.data.Dataset:
    ctx = options.input_context
    if ctx is None or ctx.num_input_pipelines == 1:
        return dataset
    return dataset.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
