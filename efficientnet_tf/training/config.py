"""Training configuration: dataclasses, dataset presets, JSON load/save and command-line overrides.

Precedence, lowest first: the reference ImageNet recipe, the dataset's preset (``digits`` is tuned to
finish on 2 CPU cores in minutes), ``--config FILE``, then flags. The resolved config is what gets
printed and written to ``model_dir/config.json``, so a run can be repeated with ``--config`` alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, Dict, Optional


@dataclasses.dataclass
class ModelConfig:
    name: str = "b0"
    width: Optional[float] = None  # None: the variant's width coefficient (scale-search sets its own)
    depth: Optional[float] = None  # None: the variant's depth coefficient
    image_size: Optional[int] = None  # None: the variant's resolution
    dropout_rate: Optional[float] = None  # None: the variant's dropout
    survival_prob: float = 0.8  # drop_connect_rate = 1 - survival_prob
    sync_bn: bool = False  # batch statistics all-reduced across replicas
    bn_momentum: Optional[float] = None  # None: the model's 0.99 (the reference)


@dataclasses.dataclass
class DataConfig:
    dataset: str = "digits"
    data_dir: Optional[str] = None
    augment: str = "none"  # none | autoaugment | randaugment
    holdout: int = 0  # training images held out as "minival" (best checkpoint is picked on it)


@dataclasses.dataclass
class OptimizerConfig:
    """The reference recipe (tensorflow/tpu efficientnet main.py)."""

    base_lr: float = 0.016  # per 256 images; scaled linearly with the global batch
    rho: float = 0.9
    momentum: float = 0.9
    epsilon: float = 1e-3
    schedule: str = "exponential"  # exponential | cosine
    warmup_epochs: float = 5.0
    decay_rate: float = 0.97
    decay_epochs: float = 2.4
    weight_decay: float = 1e-5  # L2 on non-BN weights, added to the loss
    label_smoothing: float = 0.1
    ema_decay: float = 0.9999  # 0 disables the weight EMA


@dataclasses.dataclass
class RuntimeConfig:
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16
    jit_compile: str = "auto"  # auto | on | off
    strategy: str = "auto"  # auto | default | mirrored | multi_worker | tpu
    tpu: str = ""  # TPU name/address for --strategy tpu ("" = local)
    cpu_devices: int = 0  # >1 splits the CPU into logical devices (MirroredStrategy without GPUs)


@dataclasses.dataclass
class TrainConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    batch_size: int = 4096  # global; the authors' batch
    epochs: int = 350
    steps_per_epoch: Optional[int] = None  # None: train examples // batch_size
    eval_steps: Optional[int] = None  # None: the whole eval split
    model_dir: Optional[str] = None  # None: runs/<model>-<dataset>
    seed: int = 0
    backup_every_steps: int = 500  # mid-epoch backups; one is also written at each epoch end
    export: bool = True  # model.keras and saved_model/ at the end

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# Dataset presets over the reference recipe. digits: 8x8 images upscaled to 32 px, a short run with
# the same schedule shape (linear warmup, then staircase exponential decay), and an EMA short enough
# to help within a few hundred steps. Reference holdout for ImageNet: the paper's 25K minival.
PRESETS: Dict[str, Dict[str, Any]] = {
    "imagenet": {"data": {"holdout": 25022}},
    "digits": {
        # BN momentum 0.9: with 0.99 the moving statistics lag a fast-changing short run by ~100 steps.
        "model": {"image_size": 32, "bn_momentum": 0.9},
        "batch_size": 64,
        "epochs": 40,
        "backup_every_steps": 100,
        "optimizer": {"warmup_epochs": 2.0, "decay_epochs": 1.0, "decay_rate": 0.93, "ema_decay": 0.999},
    },
}


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


def _preset_name(dataset: str) -> str:
    return dataset.split(":")[-1].split("/")[0].lower()


def from_dict(data: Dict[str, Any]) -> TrainConfig:
    """The preset of ``data``'s dataset (default digits), then ``data`` itself."""
    dataset = data.get("data", {}).get("dataset", DataConfig.dataset)
    cfg = _merge(TrainConfig(), PRESETS.get(_preset_name(dataset), {}))
    return _merge(cfg, data)


def load(path: str) -> TrainConfig:
    with open(path, encoding="utf-8") as f:
        return from_dict(json.load(f))


def save(cfg: TrainConfig, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg.to_dict(), f, indent=2, sort_keys=True)


# flag -> dotted config path. Flags left unset (None) do not override the file or the preset.
FLAGS = {
    "model": "model.name",
    "image_size": "model.image_size",
    "sync_bn": "model.sync_bn",
    "dataset": "data.dataset",
    "data_dir": "data.data_dir",
    "augment": "data.augment",
    "holdout": "data.holdout",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "steps_per_epoch": "steps_per_epoch",
    "eval_steps": "eval_steps",
    "model_dir": "model_dir",
    "seed": "seed",
    "backup_every_steps": "backup_every_steps",
    "lr_schedule": "optimizer.schedule",
    "export": "export",
    "precision": "runtime.precision",
    "jit_compile": "runtime.jit_compile",
    "strategy": "runtime.strategy",
    "tpu": "runtime.tpu",
    "cpu_devices": "runtime.cpu_devices",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train EfficientNet (defaults: B0 on digits, a few minutes on CPU).")
    p.add_argument("--config", help="JSON file of the full config (as written to model_dir/config.json)")
    p.add_argument("--model", help="b0..b7 or a registry name such as efficientnet-b0")
    p.add_argument("--dataset", help="data source string (default digits)")
    p.add_argument("--data-dir")
    p.add_argument("--image-size", type=int, help="default: the variant's resolution (digits: 32)")
    p.add_argument("--batch-size", type=int, help="global batch size")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--eval-steps", type=int)
    p.add_argument("--model-dir")
    p.add_argument("--precision", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--jit-compile", choices=["auto", "on", "off"])
    p.add_argument("--strategy", choices=["auto", "default", "mirrored", "multi_worker", "tpu"])
    p.add_argument("--tpu")
    p.add_argument("--cpu-devices", type=int, help="logical CPU devices (for mirrored on CPU)")
    p.add_argument("--sync-bn", action="store_true", default=None)
    p.add_argument("--augment", choices=["none", "autoaugment", "randaugment"])
    p.add_argument("--holdout", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--lr-schedule", choices=["exponential", "cosine"])
    p.add_argument("--backup-every-steps", type=int)
    p.add_argument("--no-export", dest="export", action="store_false", default=None)
    return p


def parse(argv=None) -> TrainConfig:
    args = parser().parse_args(argv)
    data = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            data = json.load(f)
    for flag, path in FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        *sections, leaf = path.split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    cfg = from_dict(data)
    if cfg.model_dir is None:
        cfg.model_dir = f"runs/{cfg.model.name}-{_preset_name(cfg.data.dataset)}"
    return cfg
