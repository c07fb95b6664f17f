"""An official tensorflow/tpu checkpoint written as a weights file: keras.applications' legacy h5 layout,
so that ``keras.applications.EfficientNetB0(weights=...)`` itself takes Noisy Student or AdvProp
weights, or Keras 3 ``.weights.h5`` for this package's builders.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np

from efficientnet_tf.files import atomic_output
from efficientnet_tf.weights.checkpoint import CheckpointLoad, load_checkpoint


def write_legacy_h5(model: keras.Model, path) -> str:
    """keras.applications' weights-only h5: every weighted layer by name, in model order.

    Weight names are ``layer/variable:0`` as Keras 2 wrote them. The normalization layer holds mean,
    variance = std**2 and count: keras.applications takes them as they are when the file is passed as
    ``weights=`` (its std-as-variance correction applies to ``weights="imagenet"`` only).
    """
    layers = [layer for layer in model.layers if layer.weights]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = keras.__version__.encode()
        for layer in layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0" for w in layer.weights]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for name, w in zip(names, layer.weights):
                group.create_dataset(name, data=np.asarray(w))
    return str(path)


def convert_checkpoint(checkpoint, model: keras.Model, out, ema: bool = True) -> CheckpointLoad:
    """Loads ``checkpoint`` into ``model`` (built with its top) and writes ``out``.

    ``out`` ending in ``.weights.h5`` is a Keras 3 weights file, any other ``.h5``/``.hdf5`` the legacy
    layout; the model's normalization layer is stored with the rest.
    """
    name = Path(out).name.lower()
    if not name.endswith((".h5", ".hdf5")):
        raise ValueError(f"--out must end in .h5 (keras.applications' layout) or .weights.h5 (Keras 3), got {out}")
    report = load_checkpoint(model, checkpoint, ema=ema)
    with atomic_output(out) as partial:  # a failed write leaves no half-written h5
        if name.endswith(".weights.h5"):
            model.save_weights(partial)
        else:
            write_legacy_h5(model, partial)
    return report
