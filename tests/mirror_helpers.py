"""A loopback mirror for the download tests: http.server on 127.0.0.1 in a thread, laid out as
EFFICIENTNET_TF_MIRROR expects (``/mirror/ORIGIN/PATH``), counting requests, with the faults the tests
need (a response cut short, a slow response), and servers that never answer or refuse."""
import contextlib
import http.server
import io
import socket
import tarfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

PREFIX = "mirror"


class Mirror:
    """Serves files put under their original URL; ``requests`` lists the paths asked for, in order."""

    def __init__(self, root: Path):
        self.root, self.requests = Path(root), []
        self.truncate = False  # send the full Content-Length, then half the body, then close
        self.delay_s = 0.0  # wait before answering
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(mirror.root), **kwargs)

            def do_GET(self):
                mirror.requests.append(self.path)
                time.sleep(mirror.delay_s)
                if not mirror.truncate:
                    return super().do_GET()
                body = (mirror.root / self.path.lstrip("/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{PREFIX}"

    def put(self, url: str, data: bytes) -> str:
        """Serves ``data`` as the mirror's copy of ``url``; returns the request path it answers."""
        parts = urlsplit(url)
        path = f"/{PREFIX}/{parts.netloc}{parts.path}"
        (self.root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path.lstrip("/")).write_bytes(data)
        return path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A running mirror, set as EFFICIENTNET_TF_MIRROR, with an empty cache and no keras cache."""
    for name in ("EFFICIENTNET_TF_OFFLINE", "EFFICIENTNET_TF_WEIGHTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    served = Mirror(tmp_path / "served")
    monkeypatch.setenv("EFFICIENTNET_TF_MIRROR", served.url)
    yield served
    served.stop()


@contextlib.contextmanager
def silent_server():
    """A URL whose server accepts the connection (the kernel's backlog) but never answers: a dead mirror."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/{PREFIX}"


def refused_url() -> str:
    """A loopback port nothing listens on: connections are refused, as with no network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{PREFIX}"


def tarball(members) -> bytes:
    """A .tar.gz of ``members``: (TarInfo, data or None) pairs, in order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def folder_tarball(folder: Path, name: str) -> bytes:
    """The official layout: one top folder ``name/`` holding every file of ``folder``."""
    top = tarfile.TarInfo(name)
    top.type, top.mode = tarfile.DIRTYPE, 0o755
    files = [(tarfile.TarInfo(f"{name}/{f.name}"), f.read_bytes()) for f in sorted(Path(folder).iterdir())]
    return tarball([(top, None), *files])
