"""Loading weights: a preset tag (``presets``: fetched once into the cache by ``download``, or
keras.applications' h5 where keras already has it), keras.applications' legacy HDF5 files by layer
name, the official tensorflow/tpu checkpoints (``checkpoint``), Keras' own weight files, PyTorch state
dicts (``state_dict``) or timm's Hugging Face repos (``hub``).

A partial load is never silent: every weighted layer of the model must be found in the file with
the same shapes, or nothing is assigned and ``ValueError`` names what does not fit. The one shape
allowed to differ is the RGB stem kernel for a model with other input channels (``fitting``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

import h5py
import numpy as np

from efficientnet_tf.weights import download, hub, presets
from efficientnet_tf.weights.checkpoint import checkpoint_prefix, load_checkpoint
from efficientnet_tf.weights.fitting import FIXED_LAYERS, adapt_input_kernel, refuse, say, stem_note
from efficientnet_tf.weights.state_dict import STATE_DICT_SUFFIXES, load_state_dict

WEIGHTS_DIR_ENV = "EFFICIENTNET_TF_WEIGHTS_DIR"


def imagenet_weights_dirs() -> List[Path]:
    """Where keras.applications' files are looked for: ``$EFFICIENTNET_TF_WEIGHTS_DIR``, then keras' cache."""
    dirs = [Path(os.environ[WEIGHTS_DIR_ENV])] if os.environ.get(WEIGHTS_DIR_ENV) else []
    return dirs + [Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"]


def keras_copy(preset: presets.Preset, include_top: bool) -> Optional[Path]:
    """keras.applications' own copy of a preset's h5 (``efficientnetb0_notop.h5``), if this machine has one."""
    if preset.layout != presets.KERAS_H5:
        return None
    filename = preset.file_for(include_top).name
    return next((d / filename for d in imagenet_weights_dirs() if (d / filename).is_file()), None)


def preset_path(tag: str, weights_name: str, include_top: bool) -> Path:
    """The local copy of preset ``tag`` for the variant whose keras name is ``weights_name`` (``efficientnetb0``):
    keras.applications' own copy if there is one, else the cache, downloading into it once."""
    preset = presets.get(tag, weights_name.removeprefix("efficientnet"))
    return keras_copy(preset, include_top) or download.fetch_preset(preset, include_top)


def _decode(names) -> List[str]:
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def read_legacy_h5(path) -> Dict[str, List[np.ndarray]]:
    """Layer name -> weight arrays, from a weights-only or full-model legacy Keras HDF5 file."""
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise ValueError(f"{path} is not a legacy Keras HDF5 weights file (no 'layer_names' attribute)")
        out = {}
        for name in _decode(group.attrs["layer_names"]):
            layer = group[name]
            arrays = [np.asarray(layer[w]) for w in _decode(layer.attrs.get("weight_names", []))]
            if arrays:
                out[name] = arrays
        return out


def load_legacy_h5_by_name(model, path) -> None:
    file_weights = read_legacy_h5(path)
    layers = {l.name: l for l in model.layers if l.weights and l.name not in FIXED_LAYERS}
    problems, notes = [], []
    for name, layer in layers.items():
        if name not in file_weights:
            problems.append(f"layer {name!r} is not in the file")
            continue
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in file_weights[name]]
        note = stem_note(name, want, got) if want != got else None
        if note:
            notes.append(note)
            file_weights[name] = [adapt_input_kernel(file_weights[name][0], want[0][2])]
        elif want != got:
            problems.append(f"layer {name!r} expects shapes {want}, the file has {got}")
    extra = set(file_weights) - set(layers) - set(FIXED_LAYERS)
    if "predictions" in extra and not any(l.name == "predictions" for l in model.layers):
        extra.discard("predictions")  # a file with a top loads into a headless model
    problems += [f"file layer {n!r} has no place in the model" for n in sorted(extra)]
    refuse(problems, f"weights file {path} does not fit model {model.name!r}")
    for name, layer in layers.items():
        layer.set_weights(file_weights[name])
    for note in notes:
        say(f"weights: {path}: {note}")


def load_weights(model, weights, weights_name: str, ema: bool = True) -> None:
    """Dispatches on ``weights``: a preset tag ('imagenet', 'noisy-student' ...), ``hf://OWNER/NAME`` (timm's
    Hub repos, ``hub``), an official checkpoint (folder or prefix; ``ema`` picks its EMA values), a legacy
    ``.h5`` path, a Keras weights/model file, or a PyTorch state dict (``state_dict``)."""
    if hub.is_hub(weights):
        hub.load_hub(model, weights)
        return
    include_top = any(l.name == "predictions" for l in model.layers)
    if presets.is_tag(weights):
        weights = preset_path(weights, weights_name, include_top)
    if checkpoint_prefix(weights):
        load_checkpoint(model, weights, ema=ema)
        return
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path} (expected a preset tag ({', '.join(presets.PRESETS)}), "
                                f"a weights file, an official checkpoint folder or a prefix such as .../model.ckpt)")
    name = path.name.lower()
    if name.endswith((".weights.h5", ".keras")):
        model.load_weights(path)  # Keras checks every variable's shape itself
    elif name.endswith((".h5", ".hdf5")):
        load_legacy_h5_by_name(model, path)
    elif name.endswith(STATE_DICT_SUFFIXES):
        load_state_dict(model, path)
    else:
        raise ValueError(f"unsupported weights file {path}: expected .h5, .hdf5, .weights.h5, .keras or a PyTorch "
                         f"state dict ({', '.join(STATE_DICT_SUFFIXES)})")
