"""PyTorch state dicts (``.safetensors``, ``.pth``, ``.pt``, ``.bin``) as weights, in either naming the
EfficientNet ports use, told apart by the stem's key:

- timm (``conv_stem``, ``bn1``; ``blocks.{stage}.{index}`` with ``conv_pw``/``bn1``, ``conv_dw``/``bn2``,
  ``se.conv_reduce``/``se.conv_expand``, ``conv_pwl``/``bn3``, or in a block without expansion
  ``conv_dw``/``bn1``, ``conv_pw``/``bn2``; ``conv_head``, ``bn2``, ``classifier``);
- EfficientNet-PyTorch (``_conv_stem``, ``_bn0``; ``_blocks.{flat index}`` with ``_expand_conv``/``_bn0``,
  ``_depthwise_conv``/``_bn1``, ``_se_reduce``/``_se_expand``, ``_project_conv``/``_bn2``; ``_conv_head``,
  ``_bn1``, ``_fc``).

Convolutions are OIHW (Keras: HWIO), depthwise kernels (C, 1, k, k) (Keras: (k, k, C, 1)), linear
layers (out, in); batch norms hold weight, bias, running_mean, running_var and num_batches_tracked,
which has no Keras counterpart. As with every loader here, the whole model fits or nothing is assigned.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import keras
import numpy as np
import safetensors
import safetensors.numpy

from efficientnet_tf.weights.fitting import adapt_input_kernel, refuse, say, stem_note
from efficientnet_tf.weights.layout import Place, weighted_layers
from efficientnet_tf.weights.torch_pickle import read_torch_state_dict

STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
TIMM, EFFICIENTNET_PYTORCH = "timm", "EfficientNet-PyTorch"
_STEM_KEY = {TIMM: "conv_stem.weight", EFFICIENTNET_PYTORCH: "_conv_stem.weight"}
_FIXED = {  # Keras layer -> (timm, EfficientNet-PyTorch)
    "stem_conv": ("conv_stem", "_conv_stem"),
    "stem_bn": ("bn1", "_bn0"),
    "top_conv": ("conv_head", "_conv_head"),
    "top_bn": ("bn2", "_bn1"),
    "predictions": ("classifier", "_fc"),
}
_SE = {"se_reduce": "se.conv_reduce", "se_expand": "se.conv_expand"}
_TIMM_BLOCK = {  # (with an expand conv: timm's InvertedResidual, without: its DepthwiseSeparableConv)
    True: {"expand_conv": "conv_pw", "expand_bn": "bn1", "dwconv": "conv_dw", "bn": "bn2", **_SE,
           "project_conv": "conv_pwl", "project_bn": "bn3"},
    False: {"dwconv": "conv_dw", "bn": "bn1", **_SE, "project_conv": "conv_pw", "project_bn": "bn2"},
}
_EP_BLOCK = {"expand_conv": "_expand_conv", "expand_bn": "_bn0", "dwconv": "_depthwise_conv", "bn": "_bn1",
             "se_reduce": "_se_reduce", "se_expand": "_se_expand", "project_conv": "_project_conv",
             "project_bn": "_bn2"}
_LEAF = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
         "moving_variance": "running_var"}
_IGNORED = "num_batches_tracked"


def read_state_dict(path) -> Dict[str, np.ndarray]:
    """Name -> array from a safetensors file or a ``torch.save``d state dict (never unpickling code)."""
    path = Path(path)
    if path.name.lower().endswith(".safetensors"):
        try:
            return safetensors.numpy.load_file(path)
        except (safetensors.SafetensorError, OSError, TypeError, KeyError) as e:
            raise ValueError(f"{path} cannot be read as safetensors: {type(e).__name__}: {e}") from None
    return read_torch_state_dict(path)


def detect_layout(keys) -> Optional[str]:
    """TIMM or EFFICIENTNET_PYTORCH, by the stem's key; None for any other naming."""
    found = [layout for layout, key in _STEM_KEY.items() if key in keys]
    return found[0] if len(found) == 1 else None


def _module_path(place: Place, layout: str) -> Optional[str]:
    if place.block is None:
        fixed = _FIXED.get(place.role)
        return fixed and fixed[layout != TIMM]
    if layout == TIMM:
        role = _TIMM_BLOCK[place.expands].get(place.role)
        return role and f"blocks.{place.stage}.{place.index}.{role}"
    role = _EP_BLOCK.get(place.role)
    return role and f"_blocks.{place.flat}.{role}"


def torch_layer_names(model: keras.Model, layout: str) -> Tuple[Dict[str, str], List[str]]:
    """(Keras layer -> state-dict module path for every weighted layer, layers with no counterpart)."""
    out, unknown = {}, []
    for layer, place in weighted_layers(model):
        path = _module_path(place, layout)
        if path is None:
            unknown.append(f"layer {layer.name!r} has no counterpart in {layout}'s naming")
        else:
            out[layer.name] = path
    return out, unknown


def to_keras_layout(layer, array: np.ndarray) -> np.ndarray:
    """A PyTorch weight in the layout ``layer`` keeps it: OIHW -> HWIO, (C,1,k,k) -> (k,k,C,1), (out,in) -> (in,out)."""
    if isinstance(layer, keras.layers.DepthwiseConv2D) and array.ndim == 4:
        return array.transpose(2, 3, 0, 1)
    if isinstance(layer, keras.layers.Conv2D) and array.ndim == 4:
        return array.transpose(2, 3, 1, 0)
    if isinstance(layer, keras.layers.Dense) and array.ndim == 2:
        return array.T
    return array


def _value(layer, weight, key, tensors, problems, notes):
    """The Keras value for ``weight`` from ``tensors[key]``, or None with the reason added to ``problems``."""
    if key not in tensors:
        problems.append(f"{key!r} is not in the state dict")
        return None
    value = to_keras_layout(layer, tensors[key])
    want = tuple(weight.shape)
    if value.shape != want:
        note = stem_note(layer.name, [want], [value.shape])
        if note is None:
            problems.append(f"{key!r} has shape {tensors[key].shape}, layer {layer.name!r} expects {want} "
                            f"(Keras layout)")
            return None
        notes.append(note)
        value = adapt_input_kernel(value, want[2])
    return value.astype(weight.dtype)


def plan_state_dict(model: keras.Model, tensors: Dict[str, np.ndarray], source: str):
    """([(variable, value)] for every model variable, layout, ignored counts, notes); refuses what does not fit."""
    layout = detect_layout(tensors)
    what = f"state dict {source} does not fit model {model.name!r}"
    if layout is None:
        refuse([f"its keys follow neither timm's naming ({_STEM_KEY[TIMM]}) nor EfficientNet-PyTorch's "
                f"({_STEM_KEY[EFFICIENTNET_PYTORCH]}); first keys: {sorted(tensors)[:4]}"], what)
    paths, problems = torch_layer_names(model, layout)
    plan, notes, used = [], [], set()
    for layer in model.layers:
        for weight in layer.weights if layer.name in paths else ():
            key = f"{paths[layer.name]}.{_LEAF[weight.name]}"
            used.add(key)
            value = _value(layer, weight, key, tensors, problems, notes)
            plan.append((weight, value))
    ignored = {_IGNORED: sum(k.endswith("." + _IGNORED) for k in tensors), "head tensors (include_top=False)": 0}
    headless = "predictions" not in paths
    for key in sorted(set(tensors) - used):
        if headless and key.startswith(_FIXED["predictions"][layout != TIMM] + "."):
            ignored["head tensors (include_top=False)"] += 1
        elif not key.endswith("." + _IGNORED):
            problems.append(f"state dict tensor {key!r} has no place in the model")
    refuse(problems, f"{what} ({layout} naming)")
    return plan, layout, ignored, notes


def load_state_dict(model: keras.Model, path, source: Optional[str] = None) -> None:
    """Assigns every variable of ``model`` from a PyTorch state dict file, or raises and assigns nothing.

    ``source`` names the weights in messages (``hf://timm/...`` for a downloaded file).
    """
    source = source or str(path)
    plan, layout, ignored, notes = plan_state_dict(model, read_state_dict(path), source)
    for weight, value in plan:
        weight.assign(value)
    left = ", ".join(f"{n} {kind}" for kind, n in ignored.items() if n) or "nothing"
    say("; ".join([f"weights: {source}: {layout} state dict, {len(plan)} variables; ignored {left}", *notes]))
