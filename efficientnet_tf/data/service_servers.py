"""The tf.data service's two servers, run by ``efficientnet-tf data-service dispatcher|worker``.

Both run in the foreground and exit 0 at once on SIGTERM or SIGINT. The dispatcher hands datasets and
splits to the workers; a worker runs the pipelines (its log counts the elements each produced,
see :mod:`efficientnet_tf.data.service`). Timeouts are short by default so that a dead worker is
noticed in seconds rather than the service's 10 minutes.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from typing import NoReturn, Optional

import tensorflow as tf

service = tf.data.experimental.service


def run_dispatcher(port: int, work_dir: Optional[str] = None, worker_timeout: float = 10.0) -> NoReturn:
    """Serves until a signal. ``work_dir``: the journal, so a restarted dispatcher recovers its state;
    ``worker_timeout``: seconds without a heartbeat before a worker's work is reassigned."""
    config = service.DispatcherConfig(port=port, work_dir=work_dir, fault_tolerant_mode=bool(work_dir),
                                      worker_timeout_ms=int(worker_timeout * 1000))
    server = service.DispatchServer(config)
    mode = f"fault-tolerant, journal in {work_dir}" if work_dir else "not fault-tolerant (no --work-dir)"
    print(f"tf.data service dispatcher: serving {server.target} ({mode})", flush=True)
    return _serve(server, "dispatcher")


def run_worker(dispatcher: str, port: int, host: Optional[str] = None, heartbeat: float = 1.0) -> NoReturn:
    """Serves until a signal. ``host``: the name trainers reach this worker by (None: this host's name);
    ``heartbeat``: seconds between heartbeats to the dispatcher."""
    if ":" not in dispatcher or "://" in dispatcher:
        raise ValueError(f"--dispatcher must be HOST:PORT, got {dispatcher!r}")
    host = host or socket.gethostname()
    config = service.WorkerConfig(dispatcher_address=dispatcher, worker_address=f"{host}:%port%",
                                  port=port, heartbeat_interval_ms=int(heartbeat * 1000))
    server = service.WorkerServer(config)
    print(f"tf.data service worker: serving {host}:{port} for dispatcher {dispatcher}", flush=True)
    return _serve(server, "worker")


def _serve(server, kind: str) -> NoReturn:
    """Keeps ``server`` serving until SIGTERM or SIGINT, then ends the process at once with status 0.

    The server is not stopped first: its stop is private, and stopping a busy worker plus the
    interpreter's teardown took 4-12 s on a loaded host (in CI a worker once had not exited 30 s after
    SIGTERM). The service is made for servers that vanish (a gone worker's work is reassigned, a
    fault-tolerant dispatcher's journal is written as it goes), so this exit is what a SIGKILL would
    do, with status 0 and a log line.
    """
    def stop(signum, _frame):
        print(f"tf.data service {kind}: stopped on {signal.Signals(signum).name}", flush=True)
        os._exit(0)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    while True:  # ``server`` lives as long as this frame. A sleep, not an endless wait: a signal that
        time.sleep(1.0)  # lands on one of the server's threads runs the handler when this thread wakes
