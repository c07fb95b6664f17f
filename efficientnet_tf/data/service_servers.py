"""``python -m efficientnet_tf data-service dispatcher|worker``: the tf.data service's two servers.

Both run in the foreground and exit 0 on SIGTERM or SIGINT. The dispatcher hands datasets and
splits to the workers; a worker runs the pipelines (its log counts the elements each produced,
see :mod:`efficientnet_tf.data.service`). Timeouts are short by default so that a dead worker is
noticed in seconds rather than the service's 10 minutes.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import threading

import tensorflow as tf

service = tf.data.experimental.service
STOP_GRACE_S = 10.0


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


def _serve(server, kind: str) -> int:
    """Blocks until SIGTERM or SIGINT, stops ``server`` and returns 0."""
    stop = threading.Event()
    received = {}

    def handler(signum, _frame):
        received["signal"] = signal.Signals(signum).name
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)
    while not stop.wait(1.0):
        pass
    # The public servers have no stop; _stop is what their __del__ calls. A worker still busy with an
    # endless job can take long to stop on a loaded host, so it gets STOP_GRACE_S, then the process
    # exits anyway (the OS frees its ports), as an orchestrator's SIGKILL would.
    stopper = threading.Thread(target=server._stop, daemon=True)  # noqa: SLF001
    stopper.start()
    stopper.join(STOP_GRACE_S)
    late = f" (still stopping after {STOP_GRACE_S:g} s: exiting anyway)" if stopper.is_alive() else ""
    print(f"tf.data service {kind}: stopped on {received['signal']}{late}", flush=True)
    if late:
        os._exit(0)
    return 0
