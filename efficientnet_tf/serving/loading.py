"""The one Keras loader for serving: a ``.keras`` file, a run directory, or a variant built by name.

Security: a SavedModel or legacy ``.h5`` is a program (TensorFlow's SECURITY.md); only ``.keras``
files are loaded here, with ``safe_mode=True``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import keras

from efficientnet_tf import preprocessing
from efficientnet_tf.models.efficientnet import create_model
from efficientnet_tf.models.variants import get_variant
from efficientnet_tf.run_dir import MODEL_FILE, is_saved_model, stored_crop_padding
from efficientnet_tf.weights.sources import eval_crop_padding


def load_keras_model(model_dir=None, model: Optional[str] = None, weights=None, image_size=None) -> keras.Model:
    """The one Keras loader: a ``.keras`` file or a run directory's ``model.keras`` (``safe_mode=True``),
    or a variant built by name (``model="b0"``) with ``weights`` (a file, ``"imagenet"`` or None).
    """
    if model is not None:
        shape = (image_size, image_size, 3) if image_size else None
        return create_model(model, weights=weights, input_shape=shape)
    path = Path(model_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if path.is_dir():
        found = sorted(path.glob("*.keras"))
        if not found:
            hint = " (it is a SavedModel, which this needs the .keras file for)" if is_saved_model(path) else ""
            raise FileNotFoundError(f"no .keras model in {path}{hint}")
        path = path / MODEL_FILE if (path / MODEL_FILE).is_file() else found[0]
    if path.suffix != ".keras":
        raise ValueError(f"{path}: only .keras files are loaded (SavedModels and .h5 files are code; see SECURITY.md)")
    return keras.saving.load_model(path, safe_mode=True)


def serving_crop_padding(model_dir=None, model: Optional[str] = None, weights=None) -> int:
    """The eval crop to serve with: a run's stored one, else the named weights' own, else the reference's."""
    if model_dir is not None:
        return stored_crop_padding(model_dir)
    known = eval_crop_padding(weights, get_variant(model).name) if model and isinstance(weights, str) else None
    return preprocessing.CROP_PADDING if known is None else known
