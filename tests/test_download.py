"""Fetching presets into the cache (weights.download) from a loopback mirror: the mirror and offline
switches, one download for concurrent processes, and each fault leaving nothing in the cache."""
import hashlib
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from efficientnet_tf.weights import download
from efficientnet_tf.weights.presets import KERAS_H5, TPU_TARBALL, Preset, WeightFile
from mirror_helpers import mirror, refused_url, silent_server, tarball  # noqa: F401 -- mirror is a fixture

REPO = Path(__file__).resolve().parents[1]
URL = "https://storage.googleapis.com/test-bucket/sets/w.h5"
DATA = bytes(range(256)) * 4096  # 1 MiB: the body comes in more than one read
SHA = hashlib.sha256(DATA).hexdigest()


def _preset(url=URL, file_hash=f"sha256:{SHA}", layout=KERAS_H5):
    return Preset("test-set", "b0", WeightFile(url, file_hash), layout, "imagenet", 224, 0.0, "tests")


def _cache_entries(tag="test-set"):
    """What the cache holds for a tag besides lock files."""
    folder = download.cache_dir() / tag
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def test_mirror_and_cache_locations(monkeypatch, tmp_path):
    monkeypatch.delenv("EFFICIENTNET_TF_MIRROR", raising=False)
    assert download.source_url(URL) == URL
    monkeypatch.setenv("EFFICIENTNET_TF_MIRROR", "http://127.0.0.1:8080/pfx/")
    assert download.source_url(URL) == "http://127.0.0.1:8080/pfx/storage.googleapis.com/test-bucket/sets/w.h5"
    monkeypatch.delenv("EFFICIENTNET_TF_CACHE", raising=False)
    assert download.cache_dir() == Path.home() / ".cache" / "efficientnet_tf" / "weights"
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(tmp_path))
    assert download.cache_dir() == tmp_path / "weights"
    assert download.cached_path(_preset()) == tmp_path / "weights" / "test-set" / "w.h5"
    tpu = _preset("https://storage.googleapis.com/b/noisy_student_efficientnet-b0.tar.gz", None, TPU_TARBALL)
    assert download.cached_path(tpu) == tmp_path / "weights" / "test-set" / "noisy_student_efficientnet-b0"


def test_download_once_then_from_the_cache(mirror):
    path = mirror.put(URL, DATA)
    got = download.fetch_preset(_preset())
    assert got == download.cached_path(_preset()) and got.read_bytes() == DATA
    assert download.fetch_preset(_preset()) == got
    assert mirror.requests == [path]
    assert _cache_entries() == ["w.h5"]


def test_a_dropped_connection_caches_nothing_and_the_next_call_downloads_again(mirror):
    path = mirror.put(URL, DATA)
    mirror.truncate = True
    with pytest.raises(download.DownloadError) as e:
        download.fetch_preset(_preset())
    assert URL in str(e.value) and "IncompleteRead" in str(e.value) and "weights=PATH" in str(e.value)
    assert _cache_entries() == []  # neither the file nor its temporary
    mirror.truncate = False
    assert download.fetch_preset(_preset()).read_bytes() == DATA
    assert mirror.requests == [path, path]


def test_a_hash_mismatch_names_the_url_and_both_hashes_and_caches_nothing(mirror):
    mirror.put(URL, DATA)
    wrong = "0" * 64
    with pytest.raises(ValueError) as e:
        download.fetch_preset(_preset(file_hash=f"sha256:{wrong}"))
    assert f"{URL} (from {mirror.url}/storage.googleapis.com/test-bucket/sets/w.h5): sha256 {SHA} differs from the " \
           f"expected {wrong}; nothing was cached" in str(e.value)
    assert _cache_entries() == []


@pytest.mark.parametrize("server", ["silent", "refused"])
def test_a_dead_mirror_fails_within_seconds_naming_the_url_and_the_manual_way(mirror, monkeypatch, server):
    monkeypatch.setattr(download, "TIMEOUT_S", 1.0)
    with silent_server() as silent:
        monkeypatch.setenv("EFFICIENTNET_TF_MIRROR", silent if server == "silent" else refused_url())
        start = time.monotonic()
        with pytest.raises(download.DownloadError) as e:
            download.fetch_preset(_preset())
        elapsed = time.monotonic() - start
    assert elapsed < 5, elapsed
    assert URL in str(e.value) and "pass weights=PATH" in str(e.value)
    assert ("timed out" if server == "silent" else "Connection refused") in str(e.value)
    assert _cache_entries() == []


def test_offline_never_connects_and_still_uses_the_cache(mirror, monkeypatch):
    mirror.put(URL, DATA)
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "1")
    with pytest.raises(download.DownloadError) as e:
        download.fetch_preset(_preset())
    assert str(e.value) == (f"{URL} is not cached and EFFICIENTNET_TF_OFFLINE=1 forbids downloading it: unset it, "
                            f"or download it yourself (extract a .tar.gz) and pass weights=PATH")
    assert mirror.requests == [] and _cache_entries() == []
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "0")
    cached = download.fetch_preset(_preset())
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "1")
    assert download.fetch_preset(_preset()) == cached and len(mirror.requests) == 1


def _member(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, (b"x" if kind == tarfile.REGTYPE else None)


BAD_MEMBERS = {
    "dot-dot": _member("ckpt/../../evil"),
    "absolute": _member("/tmp/evil"),
    "symlink out": _member("ckpt/ln", tarfile.SYMTYPE, "../../evil"),
    "absolute symlink": _member("ckpt/ln", tarfile.SYMTYPE, "/etc/passwd"),
    "hard link out": _member("ckpt/hl", tarfile.LNKTYPE, "../evil"),
    "device": _member("ckpt/dev", tarfile.CHRTYPE),
}


@pytest.mark.parametrize("bad", list(BAD_MEMBERS))
def test_a_tarball_escaping_its_folder_is_refused_before_extraction(tmp_path, bad):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tarball([_member("ckpt/model.ckpt.index"), BAD_MEMBERS[bad]]))
    with pytest.raises(ValueError, match="refusing to extract .*: " + re.escape(BAD_MEMBERS[bad][0].name)):
        download.extract_tarball(archive, tmp_path / "out" / "x", "URL")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil").exists()


def test_a_bad_or_unreadable_tarball_is_not_cached_and_a_good_one_is_extracted(mirror):
    url = "https://storage.googleapis.com/test-bucket/ckpt.tar.gz"
    mirror.put(url, tarball([_member("ckpt/model.ckpt.index"), BAD_MEMBERS["symlink out"]]))
    with pytest.raises(ValueError, match="refusing to extract"):
        download.fetch_preset(_preset(url, None, TPU_TARBALL))
    assert _cache_entries() == []
    mirror.put(url, DATA)
    with pytest.raises(ValueError, match=re.escape(f"{url}: not a readable .tar.gz (ReadError")):
        download.fetch_preset(_preset(url, None, TPU_TARBALL))
    assert _cache_entries() == []
    stale = download.cache_dir() / "test-set" / ".ckpt.999999.tmp.tar.gz"  # a killed process's download
    stale.write_bytes(b"partial")
    internal_link = _member("ckpt/latest", tarfile.SYMTYPE, "model.ckpt.index")
    mirror.put(url, tarball([_member("ckpt/model.ckpt.index"), internal_link]))
    folder = download.fetch_preset(_preset(url, None, TPU_TARBALL))
    assert folder == download.cached_path(_preset(url, None, TPU_TARBALL)) / "ckpt"
    assert sorted(p.name for p in folder.iterdir()) == ["latest", "model.ckpt.index"]
    assert _cache_entries() == ["ckpt"]  # the tarball itself is not kept


FETCH_AFTER_BARRIER = """
import pathlib, sys, time
from efficientnet_tf.weights import download
from efficientnet_tf.weights.presets import Preset, WeightFile
ready = pathlib.Path(sys.argv[1])
(ready / sys.argv[2]).touch()
while len(list(ready.iterdir())) < 2:
    time.sleep(0.01)
wfile = WeightFile(sys.argv[3], "sha256:" + sys.argv[4])
preset = Preset("test-set", "b0", wfile, "keras-h5", "imagenet", 224, 0.0, "tests")
print(download.fetch_preset(preset))
"""


def test_two_processes_started_together_download_once(mirror, tmp_path):
    path = mirror.put(URL, DATA)
    mirror.delay_s = 1.0  # the second process reaches the lock while the first is downloading
    ready = tmp_path / "ready"
    ready.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", FETCH_AFTER_BARRIER, str(ready), str(i), URL, SHA], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    cached = str(download.cached_path(_preset()))
    assert [o.strip().splitlines()[-1] for o, _ in outs] == [cached, cached]
    assert mirror.requests == [path]
    assert sum("waiting for another process" in err for _, err in outs) == 1
    assert Path(cached).read_bytes() == DATA and _cache_entries() == ["w.h5"]


def test_cli_fetch_prints_the_cached_path_and_list_shows_it(mirror, capsys):
    from efficientnet_tf.cli import main
    from efficientnet_tf.weights import presets

    preset = presets.get("advprop", "b0")
    mirror.put(preset.file.url, tarball([_member("efficientnet-b0/model.ckpt.index")]))
    assert main(["weights", "fetch", "advprop", "--model", "EfficientNetB0"]) == 0
    folder = download.cached_path(preset) / "efficientnet-b0"
    assert capsys.readouterr().out == f"{folder}\n"
    assert main(["weights", "list"]) == 0
    rows = {tuple(line.split()[:2]): line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert len(rows) == sum(len(by_variant) for by_variant in presets.PRESETS.values())
    assert rows[("advprop", "b0")] == ["advprop", "b0", "77.6", "224", "0.0", str(download.cached_path(preset))]
    assert rows[("noisy-student-475", "l2")] == ["noisy-student-475", "l2", "88.2", "475", "-", "no"]
