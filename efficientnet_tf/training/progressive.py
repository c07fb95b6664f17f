"""Progressive learning (EfficientNetV2, Section 4): training in stages whose image size and
regularization rise together.

Small images learn fast and need little regularization; large ones need more. So the epochs are
split into N equal stages, and in stage i the training image size, RandAugment magnitude, mixup
alpha and dropout are ``low + (high - low) * i / (N - 1)``: the minimums in the first stage, the
run's own settings in the last (image sizes rounded half up to whole pixels). Evaluation keeps the
run's image size throughout.

A stage is a function of the epoch alone, so a resumed run re-enters its stage exactly: each epoch
builds its own pipeline (:mod:`efficientnet_tf.training.inputs`) at its stage's size and
magnitudes, and a stage change sets the shared ``top_dropout`` layer's rate and retraces the train
step, which reads the rate when traced. No weight is rebuilt.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Optional, Tuple

from efficientnet_tf.models.efficientnet import MIN_SIZE

# What a stage sets, each with the run setting that is its maximum (a ``cfg`` path) and that setting's flag.
MAXIMUMS = {"image_size": ("progressive.max_image_size", "--max-image-size or --image-size"),
            "randaugment_magnitude": ("data.randaugment_magnitude", "--randaugment-magnitude"),
            "mixup": ("data.mixup", "--mixup"), "dropout_rate": ("model.dropout_rate", "--dropout-rate")}


def schedule(stages: int, ranges: Dict[str, Tuple[float, float]]) -> List[Dict[str, float]]:
    """Each stage's values: linear from ``low`` (stage 0) to ``high`` (the last; one stage has ``high``)."""
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"progressive stages must be an integer >= 1, got {stages!r}")
    for name, (low, high) in ranges.items():
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"progressive {name} must rise from its minimum to its maximum, got {low!r} -> {high!r}")
    ratios = [i / (stages - 1) if stages > 1 else 1.0 for i in range(stages)]
    return [{name: low * (1 - r) + high * r for name, (low, high) in ranges.items()} for r in ratios]


def stage_of(epoch: int, epochs: int, stages: int) -> int:
    """The 0-based stage of 0-based ``epoch``: ``stages`` runs of consecutive epochs, equal to within one."""
    return epoch * stages // epochs


def _maximums(cfg) -> Dict[str, float]:
    """The last stage's values: the run's own settings (RandAugment's only when it is on)."""
    values = {}
    for name, (path, _) in MAXIMUMS.items():
        section, field = path.split(".")
        values[name] = getattr(getattr(cfg, section), field)
    values["image_size"] = values["image_size"] or cfg.model.image_size
    if cfg.data.augment != "randaugment":
        del values["randaugment_magnitude"]
    return values


def resolve(cfg) -> None:
    """Fills a progressive run's minimums and last image size left as None (the run's own settings) and
    checks them: a bad combination raises ValueError at start. Off (0 or 1 stages), only the count is checked."""
    p = cfg.progressive
    if p.stages < 0:
        raise ValueError(f"progressive stages must be >= 0 (0 or 1 = off), got {p.stages}")
    if p.stages <= 1:
        return
    if p.stages > cfg.epochs:
        raise ValueError(f"progressive learning has {p.stages} stages but the run only {cfg.epochs} epochs")
    if cfg.data.data_service:
        raise ValueError("progressive learning builds a pipeline per stage: it cannot run through --data-service")
    if p.min_randaugment_magnitude is not None and cfg.data.augment != "randaugment":
        raise ValueError("--min-randaugment-magnitude needs --augment randaugment")
    maximums = _maximums(cfg)
    p.max_image_size = maximums["image_size"]
    for name, high in maximums.items():
        low = getattr(p, "min_" + name)
        if low is None:
            setattr(p, "min_" + name, high)
        elif not 0 <= low <= high:
            raise ValueError(f"--min-{name.replace('_', '-')} {low:g} must be between 0 and the last stage's "
                             f"{high:g} ({MAXIMUMS[name][1]})")
    if p.min_image_size < MIN_SIZE:
        raise ValueError(f"--min-image-size {p.min_image_size} is below the model's smallest input, {MIN_SIZE}")


@dataclasses.dataclass(frozen=True)
class Stage:
    """What one stage trains with; ``randaugment_magnitude`` is None without RandAugment."""

    number: int  # 1-based, as epochs are
    stages: int
    image_size: int
    randaugment_magnitude: Optional[float]
    mixup: float
    dropout_rate: float

    def pipeline(self, data):
        """``data`` (the run's pipeline settings) with this stage's magnitudes."""
        magnitude = {} if self.randaugment_magnitude is None else {"randaugment_magnitude": self.randaugment_magnitude}
        return dataclasses.replace(data, mixup=self.mixup, **magnitude)

    def row(self) -> Dict[str, float]:
        """The history columns."""
        row = {"stage": self.number, "image_size": self.image_size, "randaugment_magnitude": self.randaugment_magnitude,
               "mixup": self.mixup, "dropout_rate": self.dropout_rate}
        return {k: v for k, v in row.items() if v is not None}


def describe(row: Dict[str, float], stages: int) -> str:
    """The stage part of an epoch's log line, from its history row and the run's count of stages."""
    magnitude = f", RandAugment {row['randaugment_magnitude']:g}" if "randaugment_magnitude" in row else ""
    return (f"stage {int(row['stage'])}/{stages}: {int(row['image_size'])} px{magnitude}, mixup {row['mixup']:g}, "
            f"dropout {row['dropout_rate']:g}")


def stages(cfg) -> List[Stage]:
    """Every stage of a resolved config; one stage (the run's own settings) when progressive learning is off."""
    n = max(cfg.progressive.stages, 1)
    ranges = {name: (high if n == 1 else getattr(cfg.progressive, "min_" + name), high)
              for name, high in _maximums(cfg).items()}
    return [Stage(i + 1, n, math.floor(v["image_size"] + 0.5), v.get("randaugment_magnitude"), v["mixup"],
                  v["dropout_rate"]) for i, v in enumerate(schedule(n, ranges))]


class Stages:
    """Enters each epoch's stage. When the dropout changes, it sets the rate of ``model``'s ``top_dropout``
    layer (a model built with no dropout has none, and every stage has none) and retraces ``steps``."""

    def __init__(self, cfg, model, steps):
        self.epochs, self.steps, self.all = cfg.epochs, steps, stages(cfg)
        self.dropout = next((layer for layer in model.layers if layer.name == "top_dropout"), None)

    def enter(self, epoch: int) -> Stage:
        stage = self.all[stage_of(epoch, self.epochs, len(self.all))]
        if self.dropout is not None and self.dropout.rate != stage.dropout_rate:
            self.dropout.rate = stage.dropout_rate
            self.steps.retrace()
        return stage
