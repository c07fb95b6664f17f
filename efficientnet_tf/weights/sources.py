"""What a ``weights=`` value asks of the builder before the model is built.

A named weight set (a preset tag such as ``"noisy-student"``, or ``"hf://timm/NAME"``) was trained
with one input scaling, size and architecture detail (padding, BN epsilon); the builder must match
them, or the loaded weights compute something else. :func:`builder_options` returns those options;
an explicit argument that contradicts them is refused, since it would silently spoil the weights.
:func:`eval_crop_padding` gives the crop the set was evaluated with, which serving then uses.
"""
from __future__ import annotations

from typing import Dict, Optional

from efficientnet_tf.weights import hub, presets


def required_options(weights: Optional[str], variant: str) -> Dict[str, object]:
    """Builder keyword arguments that ``weights`` fixes for ``variant`` (empty for files and None)."""
    if presets.is_tag(weights):
        return presets.get(weights, variant).builder_options()  # ValueError: a tag the variant lacks
    if hub.is_hub(weights):
        return hub.hub_options(weights, variant)  # from its config.json; ValueError: another variant's
    return {}


def builder_options(weights: Optional[str], variant: str, given: Dict[str, object]) -> Dict[str, object]:
    """``given`` completed with what ``weights`` requires; ValueError where ``given`` contradicts it."""
    required = required_options(weights, variant)
    clash = {k: (given[k], v) for k, v in required.items() if k in given and given[k] != v}
    if clash:
        k, (got, want) = next(iter(clash.items()))
        raise ValueError(f"weights={weights!r} for {variant} needs {k}={want!r}, got {k}={got!r}; "
                         f"leave {k} out and the weights set it")
    return {**given, **required}


def eval_crop_padding(weights: Optional[str], variant: str) -> Optional[int]:
    """The eval center crop, size / (size + N), that a named weight set was evaluated with, as N;
    None for files and None (their crop is not known)."""
    if presets.is_tag(weights):
        return presets.get(weights, variant).crop_padding
    if hub.is_hub(weights):
        return hub.hub_config(weights).crop_padding
    return None
