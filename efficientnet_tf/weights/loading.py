"""Loading weights without ever downloading: keras.applications' legacy HDF5 files by layer name,
the official tensorflow/tpu checkpoints (``checkpoint``), or Keras' own weight files.

A partial load is never silent: every weighted layer of the model must be found in the file with
the same shapes, or nothing is assigned and ``ValueError`` names what does not fit. The one shape
allowed to differ is the RGB stem kernel for a model with other input channels (``fitting``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

import h5py
import numpy as np

from efficientnet_tf.weights.checkpoint import checkpoint_prefix, load_checkpoint
from efficientnet_tf.weights.fitting import FIXED_LAYERS, adapt_input_kernel, refuse, say, stem_note

WEIGHTS_DIR_ENV = "EFFICIENTNET_TF_WEIGHTS_DIR"


def imagenet_weights_dirs() -> List[Path]:
    """Where keras.applications' files are looked for: ``$EFFICIENTNET_TF_WEIGHTS_DIR``, then keras' cache."""
    dirs = [Path(os.environ[WEIGHTS_DIR_ENV])] if os.environ.get(WEIGHTS_DIR_ENV) else []
    return dirs + [Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"]


def imagenet_weights_file(weights_name: str, include_top: bool) -> str:
    return f"{weights_name}{'' if include_top else '_notop'}.h5"


def imagenet_weights_path(weights_name: str, include_top: bool) -> Path:
    """Finds a local copy of keras.applications' file, e.g. ``efficientnetb0_notop.h5``."""
    filename = imagenet_weights_file(weights_name, include_top)
    dirs = imagenet_weights_dirs()
    for d in dirs:
        if (d / filename).is_file():
            return d / filename
    raise FileNotFoundError(
        f"weights='imagenet' needs the keras.applications file {filename!r}, and this package never "
        f"downloads. Put it in one of: {', '.join(str(d) for d in dirs)} (set ${WEIGHTS_DIR_ENV} to "
        f"choose the folder), or pass its path as weights=."
    )


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
    """Dispatches on ``weights``: 'imagenet', an official checkpoint (folder or prefix; ``ema`` picks its
    EMA values), a legacy ``.h5`` path, or a Keras weights/model file."""
    if weights != "imagenet" and checkpoint_prefix(weights):
        load_checkpoint(model, weights, ema=ema)
        return
    include_top = any(l.name == "predictions" for l in model.layers)
    path = imagenet_weights_path(weights_name, include_top) if weights == "imagenet" else Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path} (expected a weights file, an official checkpoint "
                                f"folder or a checkpoint prefix such as .../model.ckpt)")
    name = path.name.lower()
    if name.endswith((".weights.h5", ".keras")):
        model.load_weights(path)  # Keras checks every variable's shape itself
    elif name.endswith((".h5", ".hdf5")):
        load_legacy_h5_by_name(model, path)
    else:
        raise ValueError(f"unsupported weights file {path}: expected .h5, .hdf5, .weights.h5 or .keras")
