"""Writing an artifact whole or not at all: a failing command leaves no half-written file or folder.

Any part of the package may import this module; it imports nothing of the package.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_output(path) -> Iterator[str]:
    """Yields a temporary name beside ``path`` to write a file or folder to; renames it to ``path`` when
    the block ends without error (replacing what was there), and deletes it when the block fails."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".partial-{os.getpid()}-{final.name}")  # keeps the suffix Keras checks
    _remove(partial)
    try:
        yield str(partial)
    except BaseException:
        _remove(partial)
        raise
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)  # os.replace cannot replace a folder that holds files
    os.replace(partial, final)
