"""Official tensorflow/tpu checkpoints as TF1 wrote them (by name, with tf.raw_ops.SaveV2), for the loader tests.

The names are spelled out here from the published scheme, not taken from efficientnet_tf.weights.checkpoint:
- the model's variables live under its scope, ``efficientnet-b0/`` (``efficientnet-lite0/`` ...);
- ``stem/conv2d/kernel`` and ``stem/tpu_batch_normalization/{gamma,beta,moving_mean,moving_variance}``;
- blocks are numbered flat, ``blocks_0`` ... over the scaled repeats; inside a block, tf.layers names
  each conv, depthwise conv and batch norm by counting the calls of its kind in the block's scope
  (``conv2d``, ``conv2d_1``; ``tpu_batch_normalization``, ``_1``, ``_2``), and squeeze-excite sits in
  ``se/`` with its own count (``se/conv2d`` reduce, ``se/conv2d_1`` expand, both with biases);
- ``head/conv2d``, ``head/tpu_batch_normalization``, ``head/dense/{kernel,bias}``;
- every model variable has ``<var>/ExponentialMovingAverage``; trainable ones have the RMSProp slots
  ``<var>/RMSProp`` and ``<var>/RMSProp_1``; ``global_step`` sits outside the scope.

google/automl's EfficientNetV2 checkpoints (``effnetv2_model.py``) use the same scheme under
``efficientnetv2-b0/`` ...; a FusedMBConvBlock has no depthwise conv: its kxk expand conv and BN come
first (when the expand ratio is not 1), then the project conv and BN, each kind counted as above.
"""
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

# The reference's seven stages of B0 (efficientnet_builder's block strings): (expand ratio, repeats).
STAGES = [(1, 1), (6, 2), (6, 2), (6, 3), (6, 3), (6, 4), (6, 1)]
EMA = "ExponentialMovingAverage"
BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


def block_expands(depth: float, lite: bool = False):
    """Per flat block, whether it has an expand conv; Lite keeps the first and last stages' repeats."""
    out = []
    for i, (expand_ratio, repeats) in enumerate(STAGES):
        n = repeats if lite and i in (0, len(STAGES) - 1) else int(math.ceil(depth * repeats))
        out += [expand_ratio != 1] * n
    return out


class _Scope:
    """A variable scope in which tf.layers counts the calls of each layer kind."""

    def __init__(self, path):
        self.path, self.calls = path, {}

    def layer(self, kind):
        n = self.calls.get(kind, 0)
        self.calls[kind] = n + 1
        return f"{self.path}/{kind}" + (f"_{n}" if n else "")


def _conv(scope, leaf="kernel"):
    return [f"{scope.layer('conv2d')}/{leaf}"]


def _bn(scope):
    layer = scope.layer("tpu_batch_normalization")
    return [f"{layer}/{v}" for v in BN_VARIABLES]


def _names(scope: str, blocks, head: bool):
    """Every model variable's name, in creation order; ``blocks``: (expands, fused, se) per flat block."""
    stem = _Scope(f"{scope}/stem")
    names = _conv(stem) + _bn(stem)
    for i, (expands, fused, se) in enumerate(blocks):
        block = _Scope(f"{scope}/blocks_{i}")
        if expands:
            names += _conv(block) + _bn(block)
        if not fused:
            names += [f"{block.layer('depthwise_conv2d')}/depthwise_kernel"] + _bn(block)
        if se:
            excite = _Scope(f"{block.path}/se")
            for _ in range(2):
                layer = excite.layer("conv2d")
                names += [f"{layer}/kernel", f"{layer}/bias"]
        names += _conv(block) + _bn(block)
    top = _Scope(f"{scope}/head")
    names += _conv(top) + _bn(top)
    if head:
        names += [f"{scope}/head/dense/kernel", f"{scope}/head/dense/bias"]
    return names


def official_names(scope: str, expands, se: bool = True, head: bool = True):
    """Every model variable's official name (tensorflow/tpu, V1), in the order the model creates them."""
    return _names(scope, [(expand, False, se) for expand in expands], head)


# automl's v2_base_block (EfficientNetV2-B0): (fused, expand ratio, repeats, squeeze-excite) per stage.
V2_BASE_STAGES = [(True, 1, 1, False), (True, 4, 2, False), (True, 4, 2, False), (False, 4, 3, True),
                  (False, 6, 5, True), (False, 6, 8, True)]


def automl_v2_names(scope: str, head: bool = True):
    """Every model variable's name in an automl EfficientNetV2-B0 checkpoint, in creation order."""
    return _names(scope, [(e != 1, fused, se) for fused, e, repeats, se in V2_BASE_STAGES for _ in range(repeats)],
                  head)


def relative_diff(a, b) -> float:
    """max |a - b| / max |b|."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a - b).max() / np.abs(b).max())


def model_variables(model):
    """The model's variables in creation order, without the fixed input normalization."""
    return [w for layer in model.layers if layer.weights and layer.name != "normalization" for w in layer.weights]


def assign_by_position(model, arrays):
    variables = model_variables(model)
    assert len(variables) == len(arrays)
    for w, a in zip(variables, arrays):
        w.assign(a)


def _random_value(name, shape, rng):
    if name.endswith("moving_variance"):
        return rng.uniform(0.5, 1.5, shape)
    if name.endswith("gamma"):
        return rng.uniform(0.8, 1.2, shape)
    if name.endswith(("beta", "moving_mean", "bias")):
        return rng.normal(0, 0.05, shape)
    fan_in = shape[0] if len(shape) == 2 else shape[0] * shape[1] * (1 if "depthwise" in name else shape[2])
    return rng.normal(0, math.sqrt(2.0 / fan_in), shape)


def write_checkpoint(folder, tensors: dict, prefix: str = "model.ckpt") -> Path:
    """Saves ``tensors`` by name as TF1's Saver did (one SaveV2), with the ``checkpoint`` state file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(tensors)
    tf.raw_ops.SaveV2(prefix=str(folder / prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    (folder / "checkpoint").write_text(f'model_checkpoint_path: "{prefix}"\nall_model_checkpoint_paths: "{prefix}"\n')
    return folder


def official_checkpoint(folder, model, scope, expands, se=True, seed=0, ema=True, raw=True, names=None):
    """Writes a training checkpoint for ``model``'s shapes in the official naming (or ``names``).

    Returns (raw arrays, EMA arrays) in the model's variable order; the EMA values differ from the
    raw ones by a random factor in [0.7, 1.3] each, so the two give measurably different outputs.
    """
    rng = np.random.default_rng(seed)
    variables = model_variables(model)
    names = names or official_names(scope, expands, se=se, head=any(l.name == "predictions" for l in model.layers))
    assert len(names) == len(variables), (len(names), len(variables))
    raws = [_random_value(n, tuple(w.shape), rng).astype(np.float32) for n, w in zip(names, variables)]
    emas = [(a * rng.uniform(0.7, 1.3, a.shape)).astype(np.float32) for a in raws]
    tensors = {"global_step": np.array(31337, np.int64)}
    for name, w, a, e in zip(names, variables, raws, emas):
        if raw:
            tensors[name] = a
        if ema:
            tensors[f"{name}/{EMA}"] = e
        if w.trainable:
            tensors[f"{name}/RMSProp"] = rng.uniform(0, 1, a.shape).astype(np.float32)
            tensors[f"{name}/RMSProp_1"] = rng.normal(0, 1, a.shape).astype(np.float32)
    write_checkpoint(folder, tensors)
    return raws, emas
