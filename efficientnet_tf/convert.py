"""An official tensorflow/tpu checkpoint written as a weights file: keras.applications' legacy h5 layout,
so that ``keras.applications.EfficientNetB0(weights=...)`` itself takes Noisy Student or AdvProp
weights, or Keras 3 ``.weights.h5`` for this package's builders.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import h5py
import keras
import numpy as np

from efficientnet_tf.checkpoint import CheckpointLoad, load_checkpoint
from efficientnet_tf.model import create_model


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


def convert_checkpoint(checkpoint, model: str, out, ema: bool = True,
                       normalization: Optional[str] = None) -> CheckpointLoad:
    """Builds variant ``model`` with its top, loads ``checkpoint`` into it and writes ``out``.

    ``out`` ending in ``.weights.h5`` is a Keras 3 weights file, any other ``.h5``/``.hdf5`` the legacy
    layout. ``normalization`` (default: the variant's own) is stored in the file's normalization layer.
    """
    name = Path(out).name.lower()
    if not name.endswith((".h5", ".hdf5")):
        raise ValueError(f"--out must end in .h5 (keras.applications' layout) or .weights.h5 (Keras 3), got {out}")
    net = create_model(model, **({"normalization": normalization} if normalization else {}))
    report = load_checkpoint(net, checkpoint, ema=ema)
    if name.endswith(".weights.h5"):
        net.save_weights(out)
    else:
        write_legacy_h5(net, out)
    return report
