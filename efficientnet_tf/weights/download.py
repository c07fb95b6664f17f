"""Preset weights fetched on request into a cache, safely under concurrency and faults.

Why not ``keras.utils.get_file``: it has no timeout (a dead mirror hangs forever), writes straight to
its cache path (another process can read a half-written file) and keeps a file whose hash failed. Here
urllib streams to a temporary name with a timeout, checks the length and the hash, and renames the
result into place under a file lock, so concurrent processes download once and never see a partial
file. Tarballs are checked member by member before anything is extracted.

Environment: ``EFFICIENTNET_TF_CACHE`` (default ``~/.cache/efficientnet_tf``; files under ``weights/``),
``EFFICIENTNET_TF_MIRROR=http://HOST:PORT/PREFIX`` (``https://ORIGIN/PATH`` is fetched from
``MIRROR/ORIGIN/PATH``), ``EFFICIENTNET_TF_OFFLINE=1`` (never connect; uncached presets fail at once).
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import posixpath
import shutil
import sys
import tarfile
import urllib.request
import zlib
from pathlib import Path
from typing import Callable, Optional

import filelock
import keras

from efficientnet_tf.offline import OFFLINE_ENV, offline
from efficientnet_tf.weights.fitting import say
from efficientnet_tf.weights.presets import KERAS_H5, Preset

CACHE_ENV = "EFFICIENTNET_TF_CACHE"
MIRROR_ENV = "EFFICIENTNET_TF_MIRROR"
TIMEOUT_S = 10.0  # per connect and per read: a dead mirror fails within seconds, a slow one still finishes
_CHUNK = 1 << 20
MANUAL = "or download it yourself (extract a .tar.gz) and pass weights=PATH"


class DownloadError(FileNotFoundError):
    """The weights are not on this machine and could not be fetched (offline, unreachable, cut short)."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "efficientnet_tf") / "weights"


def source_url(url: str) -> str:
    """Where ``url`` is fetched from: itself, or ``$EFFICIENTNET_TF_MIRROR/ORIGIN/PATH``."""
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/")
    if not mirror:
        return url
    _, rest = url.split("://", 1)
    return f"{mirror}/{rest}"


def cached_path(preset: Preset, include_top: bool = True) -> Path:
    """Where the preset lives in the cache: the file, or the folder its tarball is extracted to."""
    name = preset.file_for(include_top).name
    if preset.layout != KERAS_H5:
        name = name.removesuffix(".tar.gz").removesuffix(".tgz")
    return cache_dir() / preset.tag / name


def _named(url: str, source: str) -> str:
    return url if source == url else f"{url} (from {source})"


def _check_hash(url: str, source: str, file_hash: Optional[str], digests) -> None:
    if file_hash is None:
        say(f"weights: {source}: sha256 {digests['sha256'].hexdigest()} (no published hash to check)")
        return
    algorithm, want = file_hash.split(":", 1)
    got = digests[algorithm].hexdigest()
    if got != want:
        raise ValueError(f"{_named(url, source)}: {algorithm} {got} differs from the expected {want}; nothing was "
                         f"cached (a corrupt or changed file?)")


def _stream(source: str, target: Path, digests) -> None:
    with urllib.request.urlopen(source, timeout=TIMEOUT_S) as response, open(target, "wb") as out:
        total, done = response.length, 0
        bar = keras.utils.Progbar(total, unit_name="byte")
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            done += len(chunk)
            for d in digests.values():
                d.update(chunk)
            with contextlib.redirect_stdout(sys.stderr):  # stdout is left for results (the fetched path)
                bar.update(done)
    if total is not None and done < total:  # http.client returns a short body silently
        raise http.client.IncompleteRead(b"", total - done)


def _download(url: str, target: Path, file_hash: Optional[str]) -> None:
    """Streams ``url`` (or its mirror) to ``target``, checking its length and hash."""
    source = source_url(url)
    if offline():
        raise DownloadError(f"{url} is not cached and {OFFLINE_ENV}=1 forbids downloading it: unset it, {MANUAL}")
    digests = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    say(f"weights: downloading {source}")
    try:
        _stream(source, target, digests)
    except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, refused or cut connections
        raise DownloadError(f"cannot download {_named(url, source)}: {type(e).__name__}: {e}; "
                            f"retry, {MANUAL}") from None
    _check_hash(url, source, file_hash, digests)


def _escapes(path: str) -> bool:
    norm = posixpath.normpath(path)
    return posixpath.isabs(path) or norm == ".." or norm.startswith("../")


def _inside(member: tarfile.TarInfo) -> bool:
    """Whether ``member`` is a plain file, folder or link that stays inside the extraction folder."""
    if posixpath.isabs(member.name) or ".." in member.name.split("/"):
        return False
    if member.issym():
        return not _escapes(posixpath.join(posixpath.dirname(member.name), member.linkname))
    if member.islnk():
        return not _escapes(member.linkname)
    return member.isfile() or member.isdir()


def extract_tarball(archive: Path, folder: Path, url: str) -> None:
    """Extracts ``archive`` into ``folder`` after refusing, before writing anything, members that escape it."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            bad = [m.name + (f" -> {m.linkname}" if m.linkname else "") for m in members if not _inside(m)]
            if bad:
                raise ValueError(f"{url}: refusing to extract a tarball with members outside its folder, links out "
                                 f"of it or special files: {', '.join(bad[:5])}")
            tar.extractall(folder, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise ValueError(f"{url}: not a readable .tar.gz ({type(e).__name__}: {e})") from None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def build_once(dest: Path, make: Callable[[Path], None]) -> Path:
    """``dest``, made by ``make(temporary path)`` under a file lock and renamed into place.

    Concurrent processes wait on the lock and then find ``dest``; a failed ``make`` leaves nothing.
    """
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(f"{dest}.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        say(f"weights: waiting for another process to fetch {dest}")
        lock.acquire()
    try:
        if not dest.exists():
            for stale in dest.parent.glob(f".{dest.name}.*.tmp*"):  # left by a killed process
                _remove(stale)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            try:
                make(tmp)
                os.replace(tmp, dest)
            finally:
                _remove(tmp)
    finally:
        lock.release()
    return dest


def checkpoint_folder(root: Path, url: str) -> Path:
    """The one folder under an extracted tarball that holds a checkpoint (``*.index``)."""
    folders = sorted({p.parent for p in root.rglob("*.index")})
    if len(folders) != 1:
        raise ValueError(f"{url}: expected one checkpoint (a folder with model.ckpt.index) in the tarball, "
                         f"found {len(folders)}")
    return folders[0]


def fetch_preset(preset: Preset, include_top: bool = True) -> Path:
    """The preset's cached h5 file or checkpoint folder, downloaded (and extracted) first if need be."""
    wfile = preset.file_for(include_top)

    def make(tmp: Path) -> None:
        if preset.layout == KERAS_H5:
            _download(wfile.url, tmp, wfile.file_hash)
            return
        archive = tmp.with_name(tmp.name + ".tar.gz")
        try:
            _download(wfile.url, archive, wfile.file_hash)
            extract_tarball(archive, tmp, wfile.url)
            checkpoint_folder(tmp, wfile.url)
        finally:
            archive.unlink(missing_ok=True)

    path = build_once(cached_path(preset, include_top), make)
    return path if preset.layout == KERAS_H5 else checkpoint_folder(path, wfile.url)
