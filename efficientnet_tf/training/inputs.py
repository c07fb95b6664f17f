"""The run's datasets: every split it needs opened before the first step, and their skipped counts.

Opening a split finds its files, counts its images and settles ``num_classes``, so a missing split,
an empty class folder or a source with no images fails at start, never after an epoch. The training
dataset is built in one place, :meth:`Inputs.train_dataset`.
"""
from __future__ import annotations

import tensorflow as tf

from efficientnet_tf import data
from efficientnet_tf.data import service as data_service
from efficientnet_tf.training import config as config_lib


class NoImages(ValueError):
    """A split yielded no image at all (every one undecodable, or none there)."""


class Inputs:
    def __init__(self, cfg: config_lib.TrainConfig, strategy: tf.distribute.Strategy):
        self.cfg, self.strategy = cfg, strategy
        held_out = cfg.data.holdout > 0 or cfg.data.holdout_shards > 0
        self.eval_split = "minival" if held_out else "validation"
        self._built = {}  # split -> DatasetInfos of every dataset built (one per input pipeline)
        self.info = self._build("train", training=True)[1]
        self.num_classes = self.info.num_classes
        self.infos = {"train": self.info}
        for split in dict.fromkeys([self.eval_split, "validation"]):
            self.infos[split] = self._build(split, training=False)[1]
        self._built.clear()  # the datasets above were only opened, never read

    def log(self) -> None:
        print(f"data: {self.num_classes} classes, from {self.info.classes_from}", flush=True)
        for split, info in self.infos.items():
            print(f"data {split}: {'; '.join(info.notes)}", flush=True)

    def _build(self, split, training, input_context=None):
        cfg, d = self.cfg, self.cfg.data
        dataset, info = data.build_dataset(
            d.dataset, split, cfg.model.image_size, cfg.batch_size, training, data_dir=d.data_dir,
            augment=None if d.augment == "none" else d.augment, randaugment_layers=d.randaugment_layers,
            randaugment_magnitude=10 if d.randaugment_magnitude is None else d.randaugment_magnitude,
            mixup=d.mixup, cutmix=d.cutmix, holdout=d.holdout, holdout_shards=d.holdout_shards,
            validation_split=d.validation_split, label_offset=d.label_offset,
            num_classes=d.num_classes or getattr(self, "num_classes", None), seed=cfg.seed,
            deterministic=d.deterministic, input_context=input_context)
        self._built.setdefault(split, []).append(info)
        return dataset, info

    def train_dataset(self, input_context=None) -> tf.data.Dataset:
        """The training batches of one input pipeline, repeated forever."""
        return self._build("train", True, input_context)[0].repeat()

    def distributed(self, split, training):
        if training:
            return self.strategy.distribute_datasets_from_function(self._train_fn())
        return self.strategy.distribute_datasets_from_function(lambda ctx: self._build(split, False, ctx)[0])

    def _train_fn(self):
        d = self.cfg.data
        if not d.data_service:
            return self.train_dataset
        return data_service.train_dataset_fn(lambda ctx: self._build("train", True, ctx)[0], d.data_service,
                                             d.data_service_mode, data_service.job_name(self.cfg.model_dir), d.data_service_timeout)

    def skipped(self, split) -> int:
        """Undecodable images skipped so far in every dataset built for ``split``."""
        return sum(info.skipped() for info in self._built.get(split, []))

    def forget(self, split) -> None:
        """Start counting ``split``'s skipped images afresh (before each evaluation)."""
        self._built.pop(split, None)
