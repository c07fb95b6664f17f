"""The run's datasets: every split it needs opened before the first step.

Opening a split finds its files, counts its images and settles ``num_classes``, so a missing split,
an empty class folder or a source with no images fails at start, never after an epoch. The training
dataset is built in one place, :meth:`Inputs.train_dataset`.

Exact resume: epoch ``e`` reads a pipeline of its own, seeded by ``(seed, e)`` (:func:`epoch_seed`),
so a rerun rebuilds the very epoch it was interrupted in and skips the batches it had trained on,
as encoded records before any decode. At ImageNet scale (1.28 M JPEGs, ~140 GB) a resume in the
middle of an epoch reads ~70 GB of records to skip them, about a minute at 1-2 GB/s, and the
checkpoints stay as they are; checkpointing the tf.data iterator instead would add its shuffle
buffer (10,000 JPEGs, ~1.1 GB) per input pipeline to every backup, and cannot be done through
the tf.data service. Exact needs ``deterministic`` (parallel reads in a fixed order). Through the
tf.data service the stream is one endless job and a resumed epoch gets fresh batches (logged).

Every batch is ``(images, labels, skipped)``: ``build_dataset(count_skips=True)``, so the undecodable
images are counted where the pipeline runs (this host, a TPU host, a tf.data service worker) and summed
by the steps on the device: an epoch's batches count those of its own pass, an evaluation's all.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from efficientnet_tf import data
from efficientnet_tf.data import service as data_service
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training.progressive import Stage


class NoImages(ValueError):
    """A split yielded no image at all (every one undecodable, or none there)."""


class Inputs:
    """The run's splits. ``wrap_train``, if given, is applied to every training dataset as it is built
    (the one opened at start, then one per epoch): the seam through which tests tap or spoil batches."""

    def __init__(self, cfg: config_lib.TrainConfig, strategy: tf.distribute.Strategy,
                 wrap_train: Optional[Callable[[tf.data.Dataset], tf.data.Dataset]] = None):
        self.cfg, self.strategy, self.wrap_train = cfg, strategy, wrap_train
        held_out = cfg.data.holdout > 0 or cfg.data.holdout_shards > 0
        self.eval_split = "minival" if held_out else "validation"
        self._service = None  # the tf.data service's iterator, when there is one
        self.pipeline = cfg.data
        self.info = self._build("train", training=True)[1]
        self.num_classes = self.info.num_classes
        self.pipeline = dataclasses.replace(cfg.data, num_classes=self.num_classes)  # every later split agrees
        self.infos = {"train": self.info}
        for split in dict.fromkeys([self.eval_split, "validation"]):
            self.infos[split] = self._build(split, training=False)[1]

    def log(self) -> None:
        print(f"data: {self.num_classes} classes, from {self.info.classes_from}", flush=True)
        for split, info in self.infos.items():
            print(f"data {split}: {'; '.join(info.notes)}", flush=True)

    def _build(self, split, training, input_context=None, stage: Optional[Stage] = None, **stream):
        """A dataset of ``split`` at the run's image size and settings, or at a training ``stage``'s."""
        cfg = self.cfg
        size, pipeline = (stage.image_size, stage.pipeline(self.pipeline)) if stage else (cfg.model.image_size, self.pipeline)
        dataset, info = data.build_dataset(cfg.data.dataset, split, size, cfg.batch_size, training, pipeline,
                                           input_context=input_context, count_skips=True,
                                           **{"seed": cfg.seed, **stream})
        if training and self.wrap_train:
            dataset = self.wrap_train(dataset)
        return dataset, info

    def train_dataset(self, input_context=None, epoch: int = 0, steps_done: int = 0,
                      stage: Optional[Stage] = None) -> tf.data.Dataset:
        """One input pipeline's endless training batches for ``epoch`` (in ``stage``, if given), from its
        step ``steps_done`` on."""
        per_pipeline = input_context.num_replicas_in_sync // input_context.num_input_pipelines if input_context else 1
        return self._build("train", True, input_context, stage, seed=epoch_seed(self.cfg.seed, epoch), repeat=True,
                           skip_batches=steps_done * per_pipeline)[0]

    def train_batches(self, epoch: int, steps_done: int, stage: Stage):
        """The distributed iterator ``epoch`` trains on in ``stage``, ``steps_done`` of its steps already taken
        (through the tf.data service, the run's one stream: progressive learning refuses the service)."""
        d = self.cfg.data
        if d.data_service:  # one endless job for the whole run
            if self._service is None:
                fn = data_service.train_dataset_fn(lambda ctx: self._build("train", True, ctx)[0], d.data_service,
                                                   d.data_service_mode, data_service.job_name(self.cfg.model_dir),
                                                   d.data_service_timeout)
                self._service = iter(self.strategy.distribute_datasets_from_function(fn))
            return self._service
        return iter(self.strategy.distribute_datasets_from_function(
            lambda ctx: self.train_dataset(ctx, epoch, steps_done, stage)))

    def eval_batches(self, split):
        return self.strategy.distribute_datasets_from_function(lambda ctx: self._build(split, False, ctx)[0])


def epoch_seed(seed: int, epoch: int) -> int:
    """The data seed of ``epoch``: the same in every process and rerun, different for each epoch."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
