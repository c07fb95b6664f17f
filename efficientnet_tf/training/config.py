"""Training configuration: one set of dataclasses, from which JSON files and every flag are made.

Each field carries its help text (``metadata["help"]``); :mod:`efficientnet_tf.cli.train` turns
every field into a flag from it. The ``data`` section is the data package's own
:class:`~efficientnet_tf.data.config.DataConfig`, which ``build_dataset`` takes as it is.
Precedence, lowest first: the dataclass defaults (the reference ImageNet recipe), the recipe's
preset (:mod:`efficientnet_tf.training.recipes`), ``--config FILE``, then flags. :func:`resolve`
then fills what depends on the variant and the dataset (resolution, dropout, RandAugment
magnitude, ``model_dir``), once: a :class:`~efficientnet_tf.training.Trainer` takes only a
resolved config. The resolved config is what gets printed and written to ``model_dir/config.json``,
so a run can be repeated with ``--config`` alone.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
from typing import Any, Dict, Optional

import tensorflow as tf

from efficientnet_tf import files
from efficientnet_tf.data.config import DataConfig
from efficientnet_tf.data.config import setting as _f
from efficientnet_tf.models.variants import get_variant
from efficientnet_tf.training import progressive, recipes

__all__ = ["DataConfig", "ModelConfig", "OptimizerConfig", "ProgressiveConfig", "RuntimeConfig", "TrainConfig", "from_dict", "is_resolved",
           "load", "read", "resolve", "save"]


@dataclasses.dataclass
class ModelConfig:
    name: str = _f("b0", "variant: b0..b8, l2 or any registry name such as efficientnet-b0")
    width: Optional[float] = _f(None, "width coefficient (none: the variant's)")
    depth: Optional[float] = _f(None, "depth coefficient (none: the variant's)")
    image_size: Optional[int] = _f(None, "input resolution (none: the variant's, 224 for B0 ... 600 for B7)")
    dropout_rate: Optional[float] = _f(None, "dropout before the classifier (none: the variant's, 0.2 for B0 ... 0.5 for B7)")
    survival_prob: float = _f(0.8, "stochastic depth survival probability; drop_connect_rate = 1 - survival_prob")
    sync_bn: bool = _f(False, "all-reduce batch statistics across replicas")
    bn_momentum: Optional[float] = _f(None, "BN moving-statistics momentum (none: the model's 0.99, the reference)")


@dataclasses.dataclass
class OptimizerConfig:
    """The reference recipe (tensorflow/tpu efficientnet main.py)."""

    base_lr: float = _f(0.016, "learning rate per 256 images; scaled linearly with the global batch")
    rho: float = _f(0.9, "RMSProp decay")
    momentum: float = _f(0.9, "RMSProp momentum")
    epsilon: float = _f(1e-3, "RMSProp epsilon")
    schedule: str = _f("exponential", "learning-rate decay after warmup", choices=("exponential", "cosine"))
    warmup_epochs: float = _f(5.0, "linear warmup from 0")
    decay_rate: float = _f(0.97, "exponential schedule: factor every decay_epochs (staircase)")
    decay_epochs: float = _f(2.4, "exponential schedule: epochs between decays")
    weight_decay: float = _f(1e-5, "L2 on non-BN weights (tf.nn.l2_loss, half the sum of squares), added to the loss")
    label_smoothing: float = _f(0.1, "label smoothing of the cross-entropy")
    ema_decay: float = _f(0.9999, "weight EMA decay (0 = off); evaluation and export use the averages")


@dataclasses.dataclass
class RuntimeConfig:
    precision: str = _f("auto", "auto: bfloat16 on TPU/Ampere+, float16 on older GPUs, float32 on CPU",
                        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"))
    jit_compile: str = _f("auto", "XLA for the steps (auto: on GPU/TPU)", choices=("auto", "on", "off"))
    strategy: str = _f("auto", "distribution strategy (auto: TPU if configured, mirrored with several GPUs)",
                       choices=("auto", "default", "mirrored", "multi_worker", "tpu"))
    tpu: str = _f("", "TPU name/address for --strategy tpu ('' = local)")
    cpu_devices: int = _f(0, ">1 splits the CPU into logical devices (MirroredStrategy without GPUs)")


@dataclasses.dataclass
class ProgressiveConfig:
    """Progressive learning (:mod:`efficientnet_tf.training.progressive`): the first stage's values; the
    last stage's are the run's own settings."""

    stages: int = _f(0, "progressive learning: N stages of rising image size and regularization (0 or 1 = off)")
    min_image_size: Optional[int] = _f(None, "progressive: the first stage's training image size (none: the last stage's)")
    max_image_size: Optional[int] = _f(
        None, "progressive: the last stage's training image size (none: --image-size, at which evaluation stays)")
    min_randaugment_magnitude: Optional[float] = _f(
        None, "progressive: the first stage's RandAugment magnitude (none: --randaugment-magnitude)")
    min_mixup: Optional[float] = _f(None, "progressive: the first stage's mixup alpha (none: --mixup)")
    min_dropout_rate: Optional[float] = _f(None, "progressive: the first stage's dropout (none: --dropout-rate)")


@dataclasses.dataclass
class TrainConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    progressive: ProgressiveConfig = dataclasses.field(default_factory=ProgressiveConfig)
    recipe: str = _f("auto", "preset over the reference defaults (auto: see docs/training.md)",
                     choices=("auto",) + tuple(recipes.RECIPES))
    batch_size: int = _f(4096, "global batch size (the authors' 4096)")
    epochs: int = _f(350, "training epochs")
    steps_per_epoch: Optional[int] = _f(None, "none: train examples // batch_size")
    eval_steps: Optional[int] = _f(None, "eval batches per evaluation (none: the whole split)")
    model_dir: Optional[str] = _f(None, "output directory (none: runs/<model>-<dataset name>)")
    seed: int = _f(0, "seed of weights, file order, shuffling and augmentation")
    steps_per_loop: str = _f("auto", "train steps per host call, N or auto (1 on CPU, min(steps per epoch, 100) on GPU/TPU)")
    backup_every_steps: int = _f(500, "mid-epoch backups (at the loop boundary after every N steps); one is also written at each epoch end")
    export: bool = _f(True, "write model.keras and saved_model/ at the end")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _merge(obj, updates: Dict[str, Any], where: str = ""):
    """Recursively sets dataclass fields from a (partial) dict; unknown keys are errors, not typos."""
    fields = {f.name for f in dataclasses.fields(obj)}
    for key, value in updates.items():
        if key not in fields:
            raise ValueError(f"unknown config key {where}{key!r}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            _merge(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, value)
    return obj


def from_dict(data: Dict[str, Any]) -> TrainConfig:
    """The recipe's preset (``data['recipe']``, else auto-detected from the dataset), then ``data``."""
    dataset = data.get("data", {}).get("dataset", DataConfig.dataset)
    name = recipes.choose(data.get("recipe", "auto"), dataset)[0]
    model = data.get("model", {}).get("name", ModelConfig.name)
    cfg = _merge(TrainConfig(), recipes.preset(name, dataset, model))
    cfg = _merge(cfg, data)
    cfg.recipe = name
    return cfg


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Fills the per-variant and per-dataset defaults left as None (idempotent)."""
    variant = get_variant(cfg.model.name)  # new variants get their defaults with no change here
    scaled = cfg.model.width not in (None, variant.width) or cfg.model.depth not in (None, variant.depth)
    if scaled and (variant.lite or variant.family != "v1"):
        raise ValueError(f"--width and --depth scale V1's block strings; {variant.name} is built only as registered")
    if cfg.model.image_size is None:
        cfg.model.image_size = variant.resolution
    if cfg.model.dropout_rate is None:
        cfg.model.dropout_rate = variant.dropout
    if cfg.data.augment == "randaugment" and cfg.data.randaugment_magnitude is None:
        cfg.data.randaugment_magnitude = recipes.randaugment_magnitude(variant.name)
    cfg.steps_per_loop = str(cfg.steps_per_loop).strip().lower()
    if cfg.steps_per_loop != "auto" and not (cfg.steps_per_loop.isdigit() and int(cfg.steps_per_loop) >= 1):
        raise ValueError(f"steps_per_loop must be a positive integer or 'auto', got {cfg.steps_per_loop!r}")
    if not cfg.model_dir:
        cfg.model_dir = f"runs/{variant.name}-{recipes.dataset_name(cfg.data.dataset)}"
    progressive.resolve(cfg)
    return cfg


def is_resolved(cfg: TrainConfig) -> bool:
    """Whether :func:`resolve` has filled ``cfg``: it is idempotent, so a resolved config is its own resolution."""
    return resolve(copy.deepcopy(cfg)) == cfg


def read(path: str) -> Dict[str, Any]:
    """A config file's JSON, local or at a URL (``tf.io.gfile``)."""
    with tf.io.gfile.GFile(os.fspath(path)) as f:
        return json.load(f)


def load(path: str) -> TrainConfig:
    return from_dict(read(path))


def save(cfg: TrainConfig, path: str) -> None:
    files.write(path, json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
