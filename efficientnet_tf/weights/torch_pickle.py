"""PyTorch ``.pth``/``.bin`` state dicts read without torch, and without ever running pickled code.

``torch.save`` pickles the state dict with each storage replaced by a persistent id and each tensor
by a call ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``.
Two containers exist: the zip of torch >= 1.6 (``<root>/data.pkl``, ``<root>/data/<key>`` raw
storages, ``<root>/byteorder``), and the earlier stream of pickles (magic number, protocol 1001, sys
info, the object, the sorted storage keys, then per storage its int64 element count and raw
little-endian bytes). The unpickler here resolves only those records (the rebuild function, storage
classes such as ``torch.FloatStorage``, ``collections.OrderedDict``); any other global, such as
``os.system``, is refused before it could be called.
"""
from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16, "LongStorage": np.int64,
    "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """What ``torch.FloatStorage`` and the like unpickle to: a dtype, never callable."""

    dtype: type


@dataclasses.dataclass
class _Storage:
    key: str
    dtype: type
    numel: int
    data: np.ndarray = None


@dataclasses.dataclass
class _Tensor:
    """A tensor record; its array is cut from the storage once every storage is read."""

    storage: _Storage
    offset: int
    size: Tuple[int, ...]
    stride: Tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ValueError(f"storage {self.storage.key!r} has no data in the file")
        if not all(self.size):
            return np.zeros(self.size, data.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= len(data):
            raise ValueError(f"a tensor of size {self.size}, stride {self.stride} at offset {self.offset} overruns "
                             f"storage {self.storage.key!r} of {len(data)} elements")
        strides = [s * data.itemsize for s in self.stride]
        return np.array(np.lib.stride_tricks.as_strided(data[self.offset:], self.size, strides))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2 got {type(storage).__name__}, not a storage")
    return _Tensor(storage, int(storage_offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Resolves tensor-storage records only; ``storages`` collects the persistent ids met, by key."""

    def __init__(self, stream, storages: Dict[str, _Storage]):
        super().__init__(stream, encoding="utf-8")
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only tensors (torch._utils._rebuild_tensor_v2, "
                                     f"torch.*Storage) and collections.OrderedDict are read, no other code is run")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.80}: expected a tensor storage")
        _, kind, key, _location, numel = pid[:5]
        return self.storages.setdefault(str(key), _Storage(str(key), kind.dtype, int(numel)))


def _zip_root(archive: zipfile.ZipFile) -> str:
    names = archive.namelist()
    roots = [n[: -len("data.pkl")] for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(roots) != 1 or any(n.endswith("/constants.pkl") for n in names):
        raise ValueError("not a torch.save zip archive (one <root>/data.pkl, no TorchScript constants.pkl)")
    return roots[0]


def _check_length(storage: _Storage) -> None:
    if len(storage.data) != storage.numel:
        raise ValueError(f"storage {storage.key!r} holds {len(storage.data)} of its {storage.numel} elements: "
                         f"truncated?")


def _read_zip(path) -> Tuple[object, Dict[str, _Storage]]:
    storages: Dict[str, _Storage] = {}
    with zipfile.ZipFile(path) as archive:
        root = _zip_root(archive)
        obj = _Unpickler(io.BytesIO(archive.read(root + "data.pkl")), storages).load()
        names = set(archive.namelist())
        order = archive.read(root + "byteorder").decode() if root + "byteorder" in names else "little"
        for key, storage in storages.items():
            dtype = np.dtype(storage.dtype).newbyteorder("<" if order == "little" else ">")
            storage.data = np.frombuffer(archive.read(f"{root}data/{key}"), dtype).astype(storage.dtype)
            _check_length(storage)
    return obj, storages


def _read_legacy(path) -> Tuple[object, Dict[str, _Storage]]:
    storages: Dict[str, _Storage] = {}
    with open(path, "rb") as f:
        if _Unpickler(f, storages).load() != MAGIC_NUMBER:
            raise ValueError("neither a zip archive nor a legacy torch.save file (no magic number)")
        version = _Unpickler(f, storages).load()
        if version != PROTOCOL_VERSION:
            raise ValueError(f"legacy torch.save protocol {version}, expected {PROTOCOL_VERSION}")
        _Unpickler(f, storages).load()  # sys info: byte order and C type sizes
        obj = _Unpickler(f, storages).load()
        for key in _Unpickler(f, storages).load():
            storage = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * np.dtype(storage.dtype).itemsize)
            storage.data = np.frombuffer(raw, np.dtype(storage.dtype).newbyteorder("<")).astype(storage.dtype)
            _check_length(storage)
    return obj, storages


# What a corrupt or hostile file raises while read: a refused global, a call with wrong arguments, a short file.
_UNREADABLE = (pickle.UnpicklingError, EOFError, KeyError, IndexError, TypeError, AttributeError, ValueError,
               struct.error, zipfile.BadZipFile)


def read_torch_state_dict(path) -> Dict[str, np.ndarray]:
    """Name -> array from a ``torch.save``d state dict, either container; ValueError on anything else."""
    path = Path(path)
    try:
        obj, _ = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except _UNREADABLE as e:
        raise ValueError(f"{path} cannot be read as a PyTorch state dict: {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, _Tensor) for k, v in obj.items()):
        what = f"a dict with keys {list(obj)[:5]}" if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{path} holds {what}, not a state dict (a mapping of names to tensors)")
    return {name: tensor.array() for name, tensor in obj.items()}
