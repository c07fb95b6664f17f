"""``python -m efficientnet_tf data-service dispatcher|worker``: the tf.data service's two servers.

Both run in the foreground and exit 0 at once on SIGTERM or SIGINT. The dispatcher hands datasets and
splits to the workers; a worker runs the pipelines (its log counts the elements each produced,
see :mod:`efficientnet_tf.data.service`). Timeouts are short by default so that a dead worker is
noticed in seconds rather than the service's 10 minutes.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import time
from typing import NoReturn

import tensorflow as tf

service = tf.data.experimental.service


def add_parser(sub) -> None:
    """The ``data-service`` command and its two sub-commands, under ``sub`` (argparse subparsers)."""
    p = sub.add_parser("data-service", help="tf.data service dispatcher or worker, for train.py --data-service")
    servers = p.add_subparsers(dest="server", required=True)

    d = servers.add_parser("dispatcher", help="the dispatcher (one per training run)")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--work-dir", default=None,
                   help="journal directory: fault-tolerant mode, a restarted dispatcher recovers its state")
    d.add_argument("--worker-timeout", type=float, default=10.0,
                   help="seconds without a heartbeat before a worker counts as gone and its work is reassigned")
    d.set_defaults(func=run_dispatcher)

    w = servers.add_parser("worker", help="a worker (any number, on any host that reaches the dispatcher)")
    w.add_argument("--dispatcher", required=True, help="HOST:PORT of the dispatcher")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--host", default=socket.gethostname(),
                   help="the name trainers reach this worker by (default: this host's name)")
    w.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats to the dispatcher")
    w.set_defaults(func=run_worker)


def run_dispatcher(args: argparse.Namespace) -> int:
    config = service.DispatcherConfig(port=args.port, work_dir=args.work_dir, fault_tolerant_mode=bool(args.work_dir),
                                      worker_timeout_ms=int(args.worker_timeout * 1000))
    server = service.DispatchServer(config)
    mode = f"fault-tolerant, journal in {args.work_dir}" if args.work_dir else "not fault-tolerant (no --work-dir)"
    print(f"tf.data service dispatcher: serving {server.target} ({mode})", flush=True)
    return _serve(server, "dispatcher")


def run_worker(args: argparse.Namespace) -> int:
    if ":" not in args.dispatcher or "://" in args.dispatcher:
        raise SystemExit(f"--dispatcher must be HOST:PORT, got {args.dispatcher!r}")
    config = service.WorkerConfig(dispatcher_address=args.dispatcher, worker_address=f"{args.host}:%port%",
                                  port=args.port, heartbeat_interval_ms=int(args.heartbeat * 1000))
    server = service.WorkerServer(config)
    print(f"tf.data service worker: serving {args.host}:{args.port} for dispatcher {args.dispatcher}", flush=True)
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
