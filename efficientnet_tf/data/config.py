"""The data settings, each default written once: :class:`PipelineConfig` is what ``build_dataset``
takes, :class:`DataConfig` adds a run's source and where its pipeline runs.

The training config embeds :class:`DataConfig` as its ``data`` section, and the train command makes
one flag of every field from its help text (``metadata["help"]``), so a setting and its flag can
never disagree on the default.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

AUGMENTS = ("none", "autoaugment", "randaugment")
SERVICE_MODES = ("dynamic", "off")  # tf.data service sharding policies (data.service maps them)
RANDAUGMENT_MAGNITUDE = 10.0  # the reference's M for every model but B5 (17) and B7/B8 (28)


def setting(default, help: str, **metadata):
    """A field with its help text (and argparse ``choices``) kept beside it."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass
class PipelineConfig:
    """How a source is read, held out, augmented and shuffled (see ``build_dataset``)."""

    data_dir: Optional[str] = setting(None, "TFDS data_dir (none: TFDS's default, ~/tensorflow_datasets)")
    download: bool = setting(
        True, "prepare a tfds:NAME dataset missing from data_dir with TFDS's downloader (no: fail at start; "
        "EFFICIENTNET_TF_OFFLINE=1 forbids it too)")
    augment: str = setting("none", "training augmentation", choices=AUGMENTS)
    randaugment_layers: int = setting(2, "RandAugment ops per image (N)")
    randaugment_magnitude: Optional[float] = setting(
        None, f"RandAugment magnitude M on the 0-10 scale (none: {RANDAUGMENT_MAGNITUDE:g}; train picks the "
        "model's with --augment randaugment: 17 for B5, 28 for B7/B8)")
    mixup: float = setting(0.0, "mixup Beta(alpha, alpha); 0 = off")
    cutmix: float = setting(0.0, "cutmix Beta(alpha, alpha); 0 = off (with mixup too, each batch gets one of the two)")
    holdout: int = setting(0, "training records held out as 'minival' for the best checkpoint (ordered read; folders, TFDS)")
    holdout_shards: int = setting(
        0, "the first N sorted train files held out as 'minival' (TFRecords; keeps file shuffling and sharding)")
    validation_split: float = setting(
        0.1, "folder:PATH with class sub-folders only: the fraction of each class kept as validation")
    label_offset: int = setting(
        1, "subtracted from the 1-based image/class/label of reference TFRecords (0 for 0-based files)")
    num_classes: Optional[int] = setting(
        None, "classes (none: labels.txt, the known ImageNet layout, or the largest label seen)")
    deterministic: bool = setting(False, "fixed element order in tf.data (with --seed, the same batches every run)")
    shuffle_buffer: int = setting(10_000, "training examples in the shuffle buffer (encoded images, before decode)")


@dataclasses.dataclass
class DataConfig(PipelineConfig):
    """A run's data: its source, the pipeline settings, and the tf.data service that may run them."""

    dataset: str = setting("digits", "source: digits, tfrecord:GLOB_OR_DIR, tfds:NAME[:SPLIT] or folder:PATH")
    data_service: str = setting(
        "", "grpc://HOST:PORT of a tf.data service dispatcher: the training pipeline runs on its workers ('' = here)")
    data_service_mode: str = setting(
        "dynamic", "tf.data service sharding: dynamic (each example once per epoch) or off (each worker a full pass)",
        choices=SERVICE_MODES)
    data_service_timeout: float = setting(
        600.0, "seconds the trainer waits for a tf.data service worker before it exits with status 4")
