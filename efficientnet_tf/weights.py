"""Loading weights without ever downloading: keras.applications' legacy HDF5 files by layer name,
or Keras' own weight files.

A partial load is never silent: every weighted layer of the model must be found in the file with
the same shapes, or nothing is assigned and ``ValueError`` names what does not fit.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

import h5py
import numpy as np

WEIGHTS_DIR_ENV = "EFFICIENTNET_TF_WEIGHTS_DIR"
# keras.applications' normalization statistics are fixed in our model (layers.ImageNormalization):
# the official files store the std where the variance belongs, so their values are not taken.
_FIXED_LAYERS = ("normalization",)


def imagenet_weights_path(weights_name: str, include_top: bool) -> Path:
    """Finds a local copy of keras.applications' file, e.g. ``efficientnetb0_notop.h5``."""
    filename = f"{weights_name}{'' if include_top else '_notop'}.h5"
    dirs = [Path(os.environ[WEIGHTS_DIR_ENV])] if os.environ.get(WEIGHTS_DIR_ENV) else []
    dirs.append(Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models")
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
    layers = {l.name: l for l in model.layers if l.weights and l.name not in _FIXED_LAYERS}
    problems = []
    for name, layer in layers.items():
        if name not in file_weights:
            problems.append(f"layer {name!r} is not in the file")
            continue
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in file_weights[name]]
        if want != got:
            problems.append(f"layer {name!r} expects shapes {want}, the file has {got}")
    extra = set(file_weights) - set(layers) - set(_FIXED_LAYERS)
    if "predictions" in extra and not any(l.name == "predictions" for l in model.layers):
        extra.discard("predictions")  # a file with a top loads into a headless model
    problems += [f"file layer {n!r} has no place in the model" for n in sorted(extra)]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ValueError(f"weights file {path} does not fit model {model.name!r}: {shown}")
    for name, layer in layers.items():
        layer.set_weights(file_weights[name])


def load_weights(model, weights, weights_name: str) -> None:
    """Dispatches on ``weights``: 'imagenet', a legacy ``.h5`` path, or a Keras weights/model file."""
    include_top = any(l.name == "predictions" for l in model.layers)
    path = imagenet_weights_path(weights_name, include_top) if weights == "imagenet" else Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    name = path.name.lower()
    if name.endswith((".weights.h5", ".keras")):
        model.load_weights(path)  # Keras checks every variable's shape itself
    elif name.endswith((".h5", ".hdf5")):
        load_legacy_h5_by_name(model, path)
    else:
        raise ValueError(f"unsupported weights file {path}: expected .h5, .hdf5, .weights.h5 or .keras")
