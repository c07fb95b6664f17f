"""The run's model, built from its resolved config, and its export at the end of training."""
from __future__ import annotations

import contextlib

import keras

from efficientnet_tf.models.efficientnet import EfficientNet, create_model
from efficientnet_tf.models.variants import get_variant
from efficientnet_tf.serving.saved_model import export_saved_model
from efficientnet_tf.run_dir import RunDir
from efficientnet_tf.training import config as config_lib


@contextlib.contextmanager
def dtype_policy(name: str):
    """Keras' global dtype policy set to ``name`` inside only: layers take the policy that is global
    when they are made, and the rest of the process keeps its own."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_model(cfg: config_lib.TrainConfig, num_classes: int, policy: str) -> keras.Model:
    """The variant as its registered builder makes it (V1, Lite and V2 alike), or V1's block strings at
    an overridden width/depth, with the run's resolution, dropout and survival probability, random
    weights and dtype ``policy``; ``cfg`` must be resolved (:func:`config.resolve`)."""
    v = get_variant(cfg.model.name)
    width = v.width if cfg.model.width is None else cfg.model.width
    depth = v.depth if cfg.model.depth is None else cfg.model.depth
    options = dict(weights=None, input_shape=(cfg.model.image_size, cfg.model.image_size, 3), classes=num_classes,
                   dropout_rate=cfg.model.dropout_rate, drop_connect_rate=1.0 - cfg.model.survival_prob)
    with dtype_policy(policy):
        if (width, depth) == (v.width, v.depth):
            return create_model(v.name, **options)
        return EfficientNet(width, depth, v.resolution, name=f"efficientnet_w{width:g}_d{depth:g}", **options)


def any_size(model: keras.Model) -> keras.Model:
    """``model``'s own layers, and so its weights, called on images of any size: what progressive learning
    trains. Evaluation and export keep ``model``, built at the run's image size: its stride-2 paddings
    are TF's "same" ones at that size, where a model built for any size pads every input as an even one."""
    return keras.models.clone_model(model, input_tensors=keras.Input((None, None, 3)), clone_function=lambda layer: layer)


def export_run(cfg: config_lib.TrainConfig, model: keras.Model, ema, info, out_dir: str) -> None:
    """model.keras (with the labels and crop beside it) and saved_model/ from a float32 copy holding
    the EMA weights, built outside the strategy."""
    serving = build_model(cfg, info.num_classes, "float32")
    with ema.swapped() if ema else contextlib.nullcontext():
        serving.set_weights(model.get_weights())
    run = RunDir(out_dir)
    run.save_model(serving, info.class_names, info.crop.crop_padding)
    export_saved_model(serving, run.saved_model, class_names=info.class_names,
                       image_size=cfg.model.image_size, crop_padding=info.crop.crop_padding)
