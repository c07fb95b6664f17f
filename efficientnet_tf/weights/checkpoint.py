"""The official tensorflow/tpu checkpoints (B0-B8, L2, Lite0-4; AutoAugment, RandAugment, AdvProp,
Noisy Student) and google/automl's EfficientNetV2 ones as weights, read by variable name with
``tf.train.load_checkpoint``: no TF1 graph.

Their names, under the model's scope (``efficientnet-b0/``, ``efficientnetv2-s/``): ``stem/conv2d``,
``stem/tpu_batch_normalization``; blocks numbered flat, ``blocks_0`` ... ``blocks_{N-1}``, over the
scaled repeats; ``head/conv2d``, ``head/tpu_batch_normalization``, ``head/dense``. Inside a block the
suffixes count calls in its scope (``conv2d``, ``conv2d_1``, ``tpu_batch_normalization_2``), so they
depend on whether the block has an expand conv and a depthwise conv (V2's fused blocks have none),
never on its index. Every model variable has an EMA
shadow ``<var>/ExponentialMovingAverage``; training checkpoints add optimizer slots (``<var>/RMSProp``)
and ``global_step`` outside the scope. The published accuracies are the EMA weights', so those are
taken by default (qubvel#19 lost 3 points on B4 with the raw ones).
"""
from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from efficientnet_tf.weights.fitting import STEM_LAYER, adapt_input_kernel, refuse, say, stem_note
from efficientnet_tf.weights.layout import weighted_layers

EMA = "ExponentialMovingAverage"
_STEM_KERNEL = "stem/conv2d/kernel"
_FIXED = {
    "stem_conv": "stem/conv2d",
    "stem_bn": "stem/tpu_batch_normalization",
    "top_conv": "head/conv2d",
    "top_bn": "head/tpu_batch_normalization",
    "predictions": "head/dense",
}
# Block layer roles named once each inside blocks_i; the convs and BNs are numbered in the order present.
_BLOCK = {"dwconv": "depthwise_conv2d", "dwconv2": "depthwise_conv2d", "se_reduce": "se/conv2d",
          "se_expand": "se/conv2d_1"}
_CONVS, _NORMS = ("conv2d", ("expand_conv", "project_conv")), ("tpu_batch_normalization", ("expand_bn", "bn", "project_bn"))


def _block_layer(place) -> Optional[str]:
    """The official layer inside ``blocks_i`` for a block part, counting only the parts the block has."""
    if place.role in _BLOCK:
        return _BLOCK[place.role]
    absent = {"expand_conv", "expand_bn"} if not place.expands else set()
    absent |= {"bn"} if place.fused else set()
    for kind, roles in (_CONVS, _NORMS):
        present = [r for r in roles if r not in absent]
        if place.role in present:
            i = present.index(place.role)
            return kind + (f"_{i}" if i else "")
    return None


@dataclasses.dataclass
class CheckpointLoad:
    """What a load took: ``source`` is "EMA" or "raw"; ``ignored`` counts the entries left out, by kind."""

    prefix: str
    scope: str
    source: str
    variables: int
    ignored: Dict[str, int]
    notes: List[str]

    def __str__(self) -> str:
        left = ", ".join(f"{n} {kind}" for kind, n in self.ignored.items() if n) or "nothing"
        text = f"{self.prefix}: {self.scope}, {self.variables} variables ({self.source}); ignored {left}"
        return "; ".join([text, *self.notes])


def checkpoint_prefix(path) -> Optional[str]:
    """The checkpoint prefix (``.../model.ckpt``) that ``path`` names, a folder or a prefix; None if neither."""
    p = Path(path)
    if p.is_dir():
        latest = tf.train.latest_checkpoint(str(p))
        if latest:
            return latest
        indexes = sorted(p.glob("*.index"))
        if len(indexes) == 1:
            return str(indexes[0])[: -len(".index")]
        found = f"found {len(indexes)} .index files" if indexes else "found none"
        raise FileNotFoundError(f"{p} is a folder but holds no single checkpoint (a `checkpoint` file, or one "
                                f"model.ckpt.index with its model.ckpt.data-* files): {found}")
    if Path(f"{p}.index").is_file():
        return str(p)
    if p.name.endswith(".index") and p.is_file():
        return str(p)[: -len(".index")]
    return None


def official_layer_names(model: keras.Model) -> Dict[str, str]:
    """Keras layer name -> official layer path below the scope, for every weighted layer of ``model``."""
    out, unknown = {}, []
    for layer, place in weighted_layers(model):
        if place.block is None:
            path = _FIXED.get(place.role)
        else:
            path = _block_layer(place)
            path = path and f"blocks_{place.flat}/{path}"
        if path is None:
            unknown.append(f"layer {layer.name!r} has no counterpart in the official checkpoints")
        else:
            out[layer.name] = path
    refuse(unknown, f"model {model.name!r} cannot take an official checkpoint")
    return out


def _variable_name(layer, weight) -> str:
    """The official variable leaf; only the depthwise kernel is named otherwise than in Keras."""
    if isinstance(layer, keras.layers.DepthwiseConv2D) and weight.name == "kernel":
        return "depthwise_kernel"
    return weight.name


def _open(prefix: str):
    try:
        reader = tf.train.load_checkpoint(prefix)
        return reader, reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"checkpoint {prefix} cannot be read, truncated or incomplete? ({type(e).__name__}: {first})") from None


def _scope(shapes) -> str:
    bases = {n[: -len(EMA) - 1] if n.endswith("/" + EMA) else n for n in shapes}
    scopes = sorted(n[: -len(_STEM_KERNEL) - 1] for n in bases if n.endswith("/" + _STEM_KERNEL))
    if len(scopes) != 1:
        raise ValueError(f"expected one EfficientNet in the checkpoint (a '<scope>/{_STEM_KERNEL}' variable), "
                         f"found {len(scopes)}: {scopes}")
    return scopes[0]


def _entries(shapes, scope: str):
    """(raw variables, EMA shadows by their variable's name, counts of what is no model variable)."""
    raw, shadows, ignored = {}, {}, collections.Counter()
    inside = {n: s for n, s in shapes.items() if n.startswith(scope + "/")}
    ignored["entries outside the model scope (global_step ...)"] = len(shapes) - len(inside)
    for name, shape in inside.items():
        if name.endswith("/" + EMA):
            shadows[name[: -len(EMA) - 1]] = shape
    for name, shape in inside.items():
        parent = name.rpartition("/")[0]
        if name.endswith("/" + EMA):
            continue
        if parent in inside or parent in shadows:  # <var>/RMSProp, <var>/RMSProp_1, <var>/Momentum ...
            ignored["optimizer slots"] += 1
        else:
            raw[name] = shape
    return raw, shadows, ignored


def _plan(model, prefix: str, scope: str, raw, shadows, ema: bool, ignored) -> Tuple[list, str, List[str]]:
    """[(layer name, variable, checkpoint key)] for every model variable; refuses what does not fit."""
    paths = official_layer_names(model)
    wanted = [(layer.name, w, f"{scope}/{paths[layer.name]}/{_variable_name(layer, w)}")
              for layer in model.layers if layer.name in paths for w in layer.weights]
    use_ema = ema and any(name in shadows for _, _, name in wanted)
    table, suffix = (shadows, "/" + EMA) if use_ema else (raw, "")
    source = "EMA" if use_ema else ("raw, ema=False" if shadows else "raw: the checkpoint has no EMA shadows")
    problems, notes = [], []
    for layer_name, w, name in wanted:
        want = tuple(w.shape)
        if name not in table:
            hint = ("; it has only EMA values, use ema=True" if not use_ema and name in shadows else
                    "; pass ema=False for the raw values" if use_ema and name in raw else "")
            problems.append(f"{name + suffix!r} is not in the checkpoint{hint}")
        elif tuple(table[name]) != want:
            note = stem_note(layer_name, [want], [tuple(table[name])])
            if note is None:
                problems.append(f"{name + suffix!r} has shape {tuple(table[name])}, layer {layer_name!r} expects {want}")
            else:
                notes.append(note)
    used = {name for _, _, name in wanted}
    headless = not any(layer.name == "predictions" for layer in model.layers)
    for name in sorted((set(raw) | set(shadows)) - used):
        if headless and name.startswith(f"{scope}/head/dense/"):
            ignored["head variables (include_top=False)"] += 1
        else:
            problems.append(f"checkpoint variable {name!r} has no place in the model")
    if use_ema:
        ignored["raw values (EMA taken)"] = len(used & set(raw))
    elif shadows:
        ignored["EMA shadows"] = len(shadows)
    refuse(problems, f"checkpoint {prefix} ({scope}, {source}) does not fit model {model.name!r}")
    return [(layer_name, w, name + suffix) for layer_name, w, name in wanted], source, notes


def load_checkpoint(model: keras.Model, path, ema: bool = True) -> CheckpointLoad:
    """Assigns every variable of ``model`` from an official checkpoint (folder or prefix), EMA values first.

    All values are read and checked before anything is assigned: a missing or misfit variable, an
    entry with no place in the model (another variant) or an unreadable file raises and leaves the
    model untouched. ``include_top=False`` models skip the checkpoint's head. Returns, and prints,
    what was taken.
    """
    prefix = checkpoint_prefix(path)
    if prefix is None:
        raise FileNotFoundError(f"no checkpoint at {path}: expected a folder holding `checkpoint`, "
                                f"model.ckpt.index and model.ckpt.data-*, or the prefix .../model.ckpt")
    reader, shapes = _open(prefix)
    scope = _scope(shapes)
    raw, shadows, ignored = _entries(shapes, scope)
    plan, source, notes = _plan(model, prefix, scope, raw, shadows, ema, ignored)
    values = []
    for layer_name, w, key in plan:
        try:
            value = np.asarray(reader.get_tensor(key))
        except (tf.errors.OpError, IndexError, ValueError) as e:  # a short data file: IndexError
            raise ValueError(f"checkpoint {prefix}: {key!r} cannot be read, is the data file truncated? "
                             f"({type(e).__name__})") from None
        if layer_name == STEM_LAYER and value.shape != tuple(w.shape):
            value = adapt_input_kernel(value, w.shape[2])
        values.append(value.astype(w.dtype))
    for (_, w, _), value in zip(plan, values):
        w.assign(value)
    report = CheckpointLoad(prefix, scope, source, len(plan), dict(ignored), notes)
    say(f"weights: {report}")
    return report
