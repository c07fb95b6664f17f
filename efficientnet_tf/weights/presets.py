"""Every published weight set, as data: the single source of truth for ``weights=TAG``.

A weight set was trained with one input scaling and size, and is evaluated with one crop; the
preset records them so that ``EfficientNetB3(weights="advprop")`` needs no other argument
(``sources.builder_options``), and says where the file lives, how to check it and how it is laid out.
Like timm's ``pretrained_cfg`` and keras-hub's presets, nothing here is code that varies per set.

URLs: tensorflow/tpu ``models/official/efficientnet/README.md`` and ``lite/README.md``; google/automl
``efficientnetv2/README.md`` (V2: ImageNet-1k, ImageNet-21k with 21,843 classes, and 21k fine-tuned on
1k); keras.applications' files and hashes from ``keras/src/applications/efficientnet.py`` and
``efficientnet_v2.py`` (``BASE_WEIGHTS_PATH``, ``WEIGHTS_HASHES``: md5, (top, notop)). Top-1 as those
READMEs publish it (None: no ImageNet-1k top-1, the 21k sets).
"""
from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

KERAS_H5 = "keras-h5"  # keras.applications' legacy HDF5, loaded by layer name
TPU_TARBALL = "tpu-checkpoint"  # a .tar.gz of a tensorflow/tpu TF1 checkpoint folder (EMA shadows inside)
KERAS_URL = "https://storage.googleapis.com/keras-applications/"
TPU_URL = "https://storage.googleapis.com/cloud-tpu-checkpoints/efficientnet/"
TPU_SOURCE = "tensorflow/tpu models/official/efficientnet"
KERAS_V2_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
AUTOML_SOURCE = "google/automl efficientnetv2"
CROP_PADDING = 32  # the reference's eval crop, size / (size + 32), for every published set


@dataclasses.dataclass(frozen=True)
class WeightFile:
    url: str
    file_hash: Optional[str] = None  # "md5:<hex>" or "sha256:<hex>"; None where none is published

    @property
    def name(self) -> str:
        return PurePosixPath(urlsplit(self.url).path).name


@dataclasses.dataclass(frozen=True)
class Preset:
    """One weight set for one variant; ``notop_file`` is keras' headless h5 (None: ``file`` serves both)."""

    tag: str
    variant: str
    file: WeightFile
    layout: str
    normalization: str
    default_size: int
    top1: Optional[float]
    source: str
    notop_file: Optional[WeightFile] = None
    crop_padding: int = CROP_PADDING
    classes: int = 1000
    license: str = "Apache-2.0"

    def file_for(self, include_top: bool) -> WeightFile:
        return self.file if include_top or self.notop_file is None else self.notop_file

    @property
    def crop_pct(self) -> float:
        """The eval center crop as a fraction of the image side (timm's ``crop_pct``)."""
        return self.default_size / (self.default_size + self.crop_padding)

    def builder_options(self) -> Dict[str, object]:
        """The builder arguments these weights were trained with (and their class count, if not 1000)."""
        classes = {"classes": self.classes} if self.classes != 1000 else {}
        return {"normalization": self.normalization, "default_size": self.default_size, **classes}


# Each variant's training resolution (tensorflow/tpu efficientnet_params / efficientnet_lite_params).
_SIZE = {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "b4": 380, "b5": 456, "b6": 528, "b7": 600, "b8": 672,
         "l2": 800, "lite0": 224, "lite1": 240, "lite2": 260, "lite3": 280, "lite4": 300}
_KERAS_MD5 = {  # variant: (top, notop), keras' WEIGHTS_HASHES
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
_V2_SIZE = {"v2-b0": 224, "v2-b1": 240, "v2-b2": 260, "v2-b3": 300, "v2-s": 384, "v2-m": 480, "v2-l": 480,
            "v2-xl": 512}
_V2_NORMALIZATION = {v: "imagenet" if v[3] == "b" else "v2" for v in _V2_SIZE}
_KERAS_V2_MD5 = {  # keras' efficientnet_v2.WEIGHTS_HASHES
    "v2-b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "v2-b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "v2-b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "v2-b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "v2-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "v2-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "v2-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
_V2_IN1K = {"v2-b0": 78.7, "v2-b1": 79.8, "v2-b2": 80.5, "v2-b3": 82.1, "v2-s": 83.9, "v2-m": 85.2, "v2-l": 85.7}
# tag: (file under TPU_URL, {variant: top-1}, classes)
_AUTOML_SETS = {
    "in1k": ("v2/efficientnet{v}.tgz", _V2_IN1K, 1000),
    "in21k": ("v2/efficientnet{v}-21k.tgz", dict.fromkeys(_V2_SIZE), 21843),
    "in21k-ft1k": ("v2/efficientnet{v}-21k-ft1k.tgz", {"v2-s": 84.9, "v2-m": 86.2, "v2-l": 86.9, "v2-xl": 87.2}, 1000),
}
_AUTOAUGMENT = {"b0": 77.1, "b1": 79.1, "b2": 80.1, "b3": 81.6, "b4": 82.9, "b5": 83.6, "b6": 84.0, "b7": 84.3}
_LITE = {"lite0": 75.1, "lite1": 76.7, "lite2": 77.6, "lite3": 79.8, "lite4": 81.5}  # float top-1
# tag: (file under TPU_URL, {v} = the variant, input scaling, {variant: top-1}, input size if not the variant's)
_TPU_SETS: Dict[str, Tuple[str, str, Dict[str, float], Optional[int]]] = {
    "baseline": ("ckpts/efficientnet-{v}.tar.gz", "imagenet",
                 {"b0": 76.7, "b1": 78.7, "b2": 79.8, "b3": 81.1, "b4": 82.5, "b5": 83.1}, None),
    "autoaugment": ("ckptsaug/efficientnet-{v}.tar.gz", "imagenet", _AUTOAUGMENT, None),
    "randaugment": ("randaug/efficientnet-{v}-randaug.tar.gz", "imagenet", {"b5": 83.7, "b7": 84.7}, None),
    "advprop": ("advprop/efficientnet-{v}.tar.gz", "advprop",
                {"b0": 77.6, "b1": 79.6, "b2": 80.5, "b3": 81.9, "b4": 83.3, "b5": 84.3, "b6": 84.8, "b7": 85.2,
                 "b8": 85.5}, None),
    "noisy-student": ("noisystudent/noisy_student_efficientnet-{v}.tar.gz", "imagenet",
                      {"b0": 78.8, "b1": 81.5, "b2": 82.4, "b3": 84.1, "b4": 85.3, "b5": 86.1, "b6": 86.4, "b7": 86.9,
                       "l2": 88.4}, None),
    "noisy-student-475": ("noisystudent/noisy_student_efficientnet-{v}_475.tar.gz", "imagenet", {"l2": 88.2}, 475),
}


def _tpu(tag: str, v: str, path: str, normalization: str, top1: float, size: Optional[int], source: str) -> Preset:
    return Preset(tag, v, WeightFile(TPU_URL + path.format(v=v)), TPU_TARBALL, normalization, size or _SIZE[v],
                  top1, source)


def _keras(v: str) -> Preset:
    v2 = v in _V2_SIZE
    top, notop = (WeightFile(f"{KERAS_V2_URL if v2 else KERAS_URL}efficientnet{v}{suffix}.h5", f"md5:{h}")
                  for suffix, h in zip(("", "_notop"), (_KERAS_V2_MD5 if v2 else _KERAS_MD5)[v]))
    if v2:
        return Preset("imagenet", v, top, KERAS_H5, _V2_NORMALIZATION[v], _V2_SIZE[v], _V2_IN1K[v],
                      "keras.applications, converted from google/automl's ImageNet-1k checkpoints", notop_file=notop)
    return Preset("imagenet", v, top, KERAS_H5, "imagenet", _SIZE[v], _AUTOAUGMENT[v],
                  "keras.applications, converted from the AutoAugment checkpoints", notop_file=notop)


def _automl(tag: str, v: str, path: str, top1: Optional[float], classes: int) -> Preset:
    return Preset(tag, v, WeightFile(TPU_URL + path.format(v=v)), TPU_TARBALL, _V2_NORMALIZATION[v], _V2_SIZE[v],
                  top1, AUTOML_SOURCE, classes=classes)


PRESETS: Dict[str, Dict[str, Preset]] = {
    "imagenet": {**{v: _keras(v) for v in [*_KERAS_MD5, *_KERAS_V2_MD5]},
                 **{v: _tpu("imagenet", v, "lite/efficientnet-{v}.tar.gz", "lite", t, None, TPU_SOURCE + "/lite")
                    for v, t in _LITE.items()}},
    **{tag: {v: _tpu(tag, v, path, norm, t, size, TPU_SOURCE) for v, t in top1.items()}
       for tag, (path, norm, top1, size) in _TPU_SETS.items()},
    **{tag: {v: _automl(tag, v, path, t, classes) for v, t in top1.items()}
       for tag, (path, top1, classes) in _AUTOML_SETS.items()},
}


def is_tag(weights) -> bool:
    return isinstance(weights, str) and weights in PRESETS


def tags_for(variant: str) -> List[str]:
    return [tag for tag, by_variant in PRESETS.items() if variant in by_variant]


def get(tag: str, variant: str) -> Preset:
    """The preset, or ValueError naming the tags there are (unknown tag) or the variant has."""
    if tag not in PRESETS:
        raise ValueError(f"unknown weights tag {tag!r}; the tags are: {', '.join(PRESETS)}")
    if variant not in PRESETS[tag]:
        has = ", ".join(tags_for(variant)) or "no published weights"
        raise ValueError(f"weights={tag!r} has no {variant or 'unnamed variant'} (it has "
                         f"{', '.join(PRESETS[tag])}); {variant} has: {has}")
    return PRESETS[tag][variant]


def _title(variant: str) -> str:
    return variant.capitalize() if variant.startswith("lite") else variant.upper()


def _top1(preset: Optional[Preset]) -> str:
    if preset is None:
        return "–"
    return f"{preset.top1:.1f}" if preset.top1 is not None else f"({preset.classes:,} classes)"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _set_row(tag: str, group: List[Preset]) -> str:
    sizes = sorted({p.default_size for p in group})
    algorithms = sorted({p.file.file_hash.split(":")[0] for p in group if p.file.file_hash})
    first = group[0]
    return _row([
        f"`{tag}`", ", ".join(_title(p.variant) for p in group), first.file.url.rsplit("/", 1)[0] + "/",
        first.layout, first.normalization, f"{sizes[0]}–{sizes[-1]}" if len(sizes) > 1 else sizes[0],
        f"size / (size + {first.crop_padding})", ", ".join(algorithms) or "none published", first.license,
    ])


def render_markdown() -> str:
    """docs/pretrained.md's tables: top-1 by variant and tag, then each weight set's files and inputs."""
    variants = sorted({v for by_v in PRESETS.values() for v in by_v}, key=[*_SIZE, *_V2_SIZE].index)
    lines = [_row(["variant", *PRESETS]), _row(["---"] * (len(PRESETS) + 1))]
    for v in variants:
        lines.append(_row([_title(v), *(_top1(PRESETS[t].get(v)) for t in PRESETS)]))
    groups: Dict[Tuple[str, str], List[Preset]] = {}
    for tag, by_variant in PRESETS.items():
        for p in by_variant.values():
            groups.setdefault((tag, p.source, p.normalization), []).append(p)
    head = ["tag", "variants", "files under", "layout", "input scaling", "input px", "eval crop", "checksum", "license"]
    # A set whose variants differ in input scaling (V2 B0-B3 against S-XL) is one row per scaling.
    lines += ["", _row(head), _row(["---"] * len(head))]
    lines += [_set_row(tag, group) for (tag, _, _), group in groups.items()]
    return "\n".join(lines) + "\n"
