"""PyTorch state dicts written without torch, for the loader tests: both ``torch.save`` containers and
safetensors, and the two EfficientNet namings, spelled out here from their published descriptions.

``torch.save`` (torch/serialization.py): the object is pickled (protocol 2) with each storage replaced
by a persistent id and each tensor reduced to ``torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, requires_grad, backward_hooks)``. The zip container (torch >= 1.6) holds
``archive/data.pkl``, ``archive/byteorder`` and each storage's raw bytes in ``archive/data/<key>``; its
persistent ids are ``('storage', torch.FloatStorage, key, 'cpu', numel)``. The legacy container is a
stream: pickles of the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001 and a sys-info
dict, the object (ids with a sixth element, the view metadata, None), the sorted storage keys, then
per storage an int64 element count and its little-endian bytes. Pickling needs ``torch`` itself only
to name the rebuild function and the storage classes: stand-ins with those names are put in
``sys.modules`` while a file is written.

Names from official tensorflow/tpu ones (checkpoint_helpers): blocks_i is block i of the flat list,
which timm numbers ``blocks.{stage}.{index in stage}`` and EfficientNet-PyTorch ``_blocks.{i}``.
"""
import collections
import contextlib
import dataclasses
import io
import math
import pickle
import struct
import sys
import types
import zipfile

import numpy as np
import safetensors.numpy

from checkpoint_helpers import STAGES, block_expands

_STORAGE_CLASSES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float16): "HalfStorage",
                    np.dtype(np.int64): "LongStorage"}
_LEAF = {"kernel": "weight", "depthwise_kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
         "moving_mean": "running_mean", "moving_variance": "running_var"}
_SE = {"se/conv2d": "se.conv_reduce", "se/conv2d_1": "se.conv_expand"}
# Official layer inside blocks_i -> the module, for a block with / without an expand conv.
TIMM_BLOCK = {
    True: {"conv2d": "conv_pw", "tpu_batch_normalization": "bn1", "depthwise_conv2d": "conv_dw",
           "tpu_batch_normalization_1": "bn2", **_SE, "conv2d_1": "conv_pwl", "tpu_batch_normalization_2": "bn3"},
    False: {"depthwise_conv2d": "conv_dw", "tpu_batch_normalization": "bn1", **_SE, "conv2d": "conv_pw",
            "tpu_batch_normalization_1": "bn2"},
}
EP_BLOCK = {
    True: {"conv2d": "_expand_conv", "tpu_batch_normalization": "_bn0", "depthwise_conv2d": "_depthwise_conv",
           "tpu_batch_normalization_1": "_bn1", "se/conv2d": "_se_reduce", "se/conv2d_1": "_se_expand",
           "conv2d_1": "_project_conv", "tpu_batch_normalization_2": "_bn2"},
    False: {"depthwise_conv2d": "_depthwise_conv", "tpu_batch_normalization": "_bn1", "se/conv2d": "_se_reduce",
            "se/conv2d_1": "_se_expand", "conv2d": "_project_conv", "tpu_batch_normalization_1": "_bn2"},
}
TIMM_FIXED = {"stem/conv2d": "conv_stem", "stem/tpu_batch_normalization": "bn1", "head/conv2d": "conv_head",
              "head/tpu_batch_normalization": "bn2", "head/dense": "classifier"}
EP_FIXED = {"stem/conv2d": "_conv_stem", "stem/tpu_batch_normalization": "_bn0", "head/conv2d": "_conv_head",
            "head/tpu_batch_normalization": "_bn1", "head/dense": "_fc"}


def block_positions(depth: float, lite: bool = False):
    """(stage, index in stage) of each flat block."""
    out = []
    for s, (_, repeats) in enumerate(STAGES):
        n = repeats if lite and s in (0, len(STAGES) - 1) else int(math.ceil(depth * repeats))
        out += [(s, j) for j in range(n)]
    return out


def _module(layout, section, layer, positions, expands):
    if not section.startswith("blocks_"):
        return (TIMM_FIXED if layout == "timm" else EP_FIXED)[f"{section}/{layer}"]
    i = int(section[len("blocks_"):])
    if layout == "timm":
        stage, index = positions[i]
        return f"blocks.{stage}.{index}.{TIMM_BLOCK[expands[i]][layer]}"
    return f"_blocks.{i}.{EP_BLOCK[expands[i]][layer]}"


def _torch_array(leaf, array):
    if leaf == "depthwise_kernel":
        return array.transpose(2, 3, 0, 1)  # (k, k, C, 1) -> (C, 1, k, k)
    if leaf == "kernel" and array.ndim == 4:
        return array.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    return array.T if leaf == "kernel" else array  # dense (in, out) -> (out, in)


def torch_state_dict(names, arrays, layout, depth, lite=False):
    """Official (name, array) pairs as a state dict in ``layout`` ("timm" or "efficientnet-pytorch")."""
    positions, expands = block_positions(depth, lite), block_expands(depth, lite)
    out = {}
    for name, array in zip(names, arrays):
        parts = name.split("/")
        section, layer, leaf = parts[1], "/".join(parts[2:-1]), parts[-1]
        module = _module(layout, section, layer, positions, expands)
        out[f"{module}.{_LEAF[leaf]}"] = np.array(_torch_array(leaf, array), order="C")
        if leaf == "moving_variance":
            out[f"{module}.num_batches_tracked"] = np.array(31337, np.int64)
    return out


@dataclasses.dataclass
class View:
    """A tensor cut from a shared 1-D storage ``base`` (by identity) at ``offset`` with element strides."""

    base: np.ndarray
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor_v2(*args):
    raise AssertionError("only named by the pickle, never called")


@contextlib.contextmanager
def _fake_torch():
    """``torch``/``torch._utils`` stand-ins, so that pickle names the storages and the rebuild function as torch."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in set(_STORAGE_CLASSES.values()):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    _rebuild_tensor_v2.__module__ = "torch._utils"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k)
            else:
                sys.modules[k] = v


class _Storage:
    def __init__(self, key, base):
        self.key, self.base = key, base


class _Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.args = (storage, offset, tuple(shape), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return _rebuild_tensor_v2, self.args


def _view(value) -> View:
    if isinstance(value, View):
        return value
    a = np.array(value, order="C")  # ascontiguousarray would make a 0-d array 1-d
    return View(a.reshape(-1), 0, a.shape, tuple(s // a.itemsize for s in a.strides))


def _records(tensors):
    """(state dict of _Tensor records, {key: 1-D storage}); Views of one base share one storage."""
    storages, by_base, out = {}, {}, collections.OrderedDict()
    for name, value in tensors.items():
        view = _view(value)
        storage = by_base.setdefault(id(view.base), _Storage(str(len(by_base)), view.base))
        storages[storage.key] = storage.base
        out[name] = _Tensor(storage, view.offset, view.shape, view.stride)
    return out, storages


def _pickle(records, legacy: bool) -> bytes:
    """The state dict pickled as torch.save does; the legacy ids carry a sixth element, no view (None)."""
    with _fake_torch() as torch:
        def persistent_id(obj):
            if not isinstance(obj, _Storage):
                return None
            kind = getattr(torch, _STORAGE_CLASSES[obj.base.dtype])
            return ("storage", kind, obj.key, "cpu", obj.base.size) + ((None,) if legacy else ())

        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=2)
        pickler.persistent_id = persistent_id
        pickler.dump(records)
        return buffer.getvalue()


def _little_endian(base) -> bytes:
    return base.astype(base.dtype.newbyteorder("<")).tobytes()


def write_torch_zip(path, tensors, root="archive"):
    """``torch.save``'s zip container (torch >= 1.6)."""
    records, storages = _records(tensors)
    data = _pickle(records, legacy=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{root}/data.pkl", data)
        archive.writestr(f"{root}/byteorder", "little")
        for key, base in storages.items():
            archive.writestr(f"{root}/data/{key}", _little_endian(base))
        archive.writestr(f"{root}/version", "3\n")
    return path


def write_torch_legacy(path, tensors):
    """``torch.save``'s container before torch 1.6 (``_use_new_zipfile_serialization=False``)."""
    records, storages = _records(tensors)
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                      "type_sizes": {"short": 2, "int": 4, "long": 8}}):
            pickle.dump(header, f, protocol=2)
        f.write(_pickle(records, legacy=True))
        keys = sorted(storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            base = storages[key]
            f.write(struct.pack("<q", base.size) + _little_endian(base))
    return path


def write_state_dict(path, tensors, container):
    """``container``: "zip", "legacy" or "safetensors"."""
    if container == "safetensors":
        safetensors.numpy.save_file({k: np.array(v, order="C") for k, v in tensors.items()}, str(path))
        return path
    return (write_torch_zip if container == "zip" else write_torch_legacy)(path, tensors)


def write_pickle_zip(path, obj, root="archive"):
    """A zip container whose data.pkl is ``obj`` pickled as is (a crafted, hostile one)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{root}/data.pkl", pickle.dumps(obj, protocol=2))
    return path


def write_pickle_legacy(path, obj):
    """A legacy stream whose object is ``obj`` pickled as is."""
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001}, obj, []):
            pickle.dump(header, f, protocol=2)
    return path
