"""Paths local or at a URL, and writing an artifact whole or not at all.

A path is a string, local or a URL that ``tf.io.gfile`` knows (``gs://``, ``ram://``, ...), and every
read, write, listing and removal of a run's files goes through ``tf.io.gfile``: ``pathlib`` would
turn ``gs://bucket`` into ``gs:/bucket``, a local folder. :func:`join` is the one way paths are built.

Any part of the package may import this module; it imports nothing of the package.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import tensorflow as tf


def is_url(path) -> bool:
    return "://" in os.fspath(path)


def join(base, *parts) -> str:
    """``base`` and ``parts`` joined: with "/" at a URL (whatever the OS), with ``os.path.join`` locally."""
    base, parts = os.fspath(base), [os.fspath(p) for p in parts]
    if is_url(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(base, *parts)


def remove(path) -> None:
    """Deletes a file or a whole folder, if there is one; a symlink itself, never what it points to."""
    path = os.fspath(path)
    if tf.io.gfile.isdir(path) and not os.path.islink(path):
        tf.io.gfile.rmtree(path)
    elif tf.io.gfile.exists(path) or os.path.islink(path):
        tf.io.gfile.remove(path)


@contextlib.contextmanager
def atomic_output(path) -> Iterator[str]:
    """Yields the name to write a file or folder ``path`` to, whole or not at all: locally a temporary
    name beside ``path``, renamed to it when the block ends without error (replacing what was there);
    at a URL ``path`` itself, emptied first, since there a folder cannot be renamed at once (object
    stores move it object by object, ram:// only its own entry). A failed block leaves nothing there."""
    final = os.fspath(path)
    parent, name = os.path.split(final)
    tf.io.gfile.makedirs(parent or ".")
    partial = final if is_url(final) else join(parent, f".partial-{os.getpid()}-{name}")  # keeps Keras' suffix
    remove(partial)
    try:
        yield partial
    except BaseException:
        remove(partial)
        raise
    if partial != final:
        if tf.io.gfile.isdir(final):
            remove(final)  # a rename cannot replace a folder that holds files
        tf.io.gfile.rename(partial, final, overwrite=True)


def write(path, data) -> None:
    """``data`` (text or bytes) as the whole file ``path``, through :func:`atomic_output`, which also
    empties it first at a URL: ram:// opens an existing file for writing at its end."""
    with atomic_output(path) as partial, tf.io.gfile.GFile(partial, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
