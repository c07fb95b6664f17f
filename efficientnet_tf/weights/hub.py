"""``weights="hf://timm/NAME"``: timm's Hugging Face repos, each a ``model.safetensors`` in timm's naming
and a ``config.json`` whose ``architecture`` names the model and whose ``pretrained_cfg`` holds the
input statistics (mean, std), ``input_size``, ``crop_pct`` and ``interpolation`` it was evaluated with.

``tf_efficientnet_*`` are ports of the TF weights: TF "same" padding and BN epsilon 1e-3, this
package's defaults. timm's own ``efficientnet_*`` weights were trained in PyTorch with symmetric
padding (k // 2) and BN epsilon 1e-5; the architecture is otherwise the same, down to the SE widths.
Files come through ``huggingface_hub``, so its cache, ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` apply.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Dict

from efficientnet_tf.weights.fitting import say
from efficientnet_tf.weights.state_dict import load_state_dict

HF_PREFIX = "hf://"
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
_ARCHITECTURE = re.compile(r"^(tf_)?efficientnet_(b[0-8]|l2|lite[0-4])$")
# timm's IMAGENET_DEFAULT_MEAN/STD and IMAGENET_INCEPTION_MEAN/STD, by the normalization that computes them.
_STATISTICS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "advprop": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
# BN epsilon: timm's BN_EPS_TF_DEFAULT for the tf_ ports, PyTorch's BatchNorm2d default otherwise.
_BN_EPSILON = {True: 1e-3, False: 1e-5}


@dataclasses.dataclass(frozen=True)
class HubConfig:
    """What a timm repo's config.json says, in this package's terms."""

    repo_id: str
    architecture: str
    variant: str
    tf_port: bool
    normalization: str
    input_size: int
    crop_pct: float
    interpolation: str
    num_classes: int

    @property
    def crop_padding(self) -> int:
        """The eval crop as serving takes it (``crop_padding=``): size / (size + crop_padding) ~ crop_pct."""
        return round(self.input_size / self.crop_pct) - self.input_size

    def builder_options(self) -> Dict[str, object]:
        return {
            "normalization": self.normalization, "default_size": self.input_size,
            "padding": "same" if self.tf_port else "symmetric", "bn_epsilon": _BN_EPSILON[self.tf_port],
        }


def is_hub(weights) -> bool:
    return isinstance(weights, str) and weights.startswith(HF_PREFIX)


def repo_id(weights: str) -> str:
    repo = weights[len(HF_PREFIX):].strip("/")
    if repo.count("/") != 1:
        raise ValueError(f"weights={weights!r}: expected hf://OWNER/NAME, such as "
                         f"hf://timm/tf_efficientnet_b0.ns_jft_in1k")
    return repo


def download(weights: str, filename: str) -> Path:
    """``filename`` of the repo, from huggingface_hub's cache or the Hub.

    ``HF_ENDPOINT`` is read at each call (huggingface_hub reads it once, at its import), so setting it
    after import works too.
    """
    import huggingface_hub  # imported for hf:// weights only
    from huggingface_hub import constants
    from huggingface_hub.errors import EntryNotFoundError

    endpoint = os.environ.get("HF_ENDPOINT") or None
    try:
        return Path(huggingface_hub.hf_hub_download(repo_id(weights), filename, endpoint=endpoint))
    except (OSError, ValueError, EntryNotFoundError) as e:
        where = endpoint or constants.ENDPOINT
        first = (str(e).strip().splitlines() or [""])[0]
        raise FileNotFoundError(f"{weights}: {filename} is neither in huggingface_hub's cache nor to be had from "
                                f"{where} ({type(e).__name__}: {first})") from None


def _normalization(weights: str, cfg: dict) -> str:
    mean, std = tuple(cfg.get("mean", ())), tuple(cfg.get("std", ()))
    for name, (m, s) in _STATISTICS.items():
        if len(mean) == len(std) == 3 and max(abs(a - b) for a, b in zip(mean + std, m + s)) < 1e-4:
            return name
    raise ValueError(f"{weights}: config.json's mean {mean} and std {std} are none of the input scalings the model "
                     f"builds in ({', '.join(f'{k}: mean {m}, std {s}' for k, (m, s) in _STATISTICS.items())})")


def _input_size(weights: str, cfg: dict) -> int:
    size = tuple(cfg.get("input_size", ()))
    if len(size) != 3 or size[0] != 3 or size[1] != size[2]:
        raise ValueError(f"{weights}: config.json's input_size {size} is not (3, S, S)")
    return int(size[1])


def parse_config(weights: str, config: dict) -> HubConfig:
    """The HubConfig of a timm config.json (or its legacy flat form, without ``pretrained_cfg``)."""
    cfg = config.get("pretrained_cfg", config)
    architecture = str(config.get("architecture", cfg.get("architecture", "")))
    match = _ARCHITECTURE.match(architecture)
    if not match:
        raise ValueError(f"{weights}: architecture {architecture!r} is not one this package builds "
                         f"((tf_)efficientnet_b0 ... b8, l2, lite0 ... lite4)")
    return HubConfig(
        repo_id(weights), architecture, match.group(2), bool(match.group(1)), _normalization(weights, cfg),
        _input_size(weights, cfg), float(cfg.get("crop_pct", 0.875)), str(cfg.get("interpolation", "bicubic")),
        int(config.get("num_classes", cfg.get("num_classes", 1000))),
    )


def hub_config(weights: str) -> HubConfig:
    """The repo's config; its eval crop, for serving, is ``.crop_padding``."""
    with open(download(weights, CONFIG_FILE), encoding="utf-8") as f:
        return parse_config(weights, json.load(f))


def hub_options(weights: str, variant: str) -> Dict[str, object]:
    """Builder options the repo's weights need; ValueError if they are another variant's."""
    config = hub_config(weights)
    if config.variant != variant:
        raise ValueError(f"{weights} holds {config.architecture}, an EfficientNet-{config.variant.capitalize()}; "
                         f"build it with that variant, not {variant}")
    return config.builder_options()


def load_hub(model, weights: str) -> HubConfig:
    """Loads the repo's model.safetensors into ``model`` (all or nothing) and reports its eval crop."""
    config = hub_config(weights)
    load_state_dict(model, download(weights, WEIGHTS_FILE), source=weights)
    say(f"weights: {weights}: evaluated at {config.input_size} px, crop_pct {config.crop_pct} (serving: "
        f"crop_padding={config.crop_padding}), {config.interpolation} resize")
    return config
