"""``data-service dispatcher|worker``: the tf.data service's servers, for ``train --data-service``."""
from __future__ import annotations

from efficientnet_tf.cli.flags import default_of
from efficientnet_tf.data import service_servers


def _dispatcher(args) -> int:
    return service_servers.run_dispatcher(args.port, args.work_dir, args.worker_timeout)


def _worker(args) -> int:
    return service_servers.run_worker(args.dispatcher, args.port, args.host, args.heartbeat)


def add_parsers(sub) -> None:
    p = sub.add_parser("data-service", help="tf.data service dispatcher or worker, for train --data-service")
    servers = p.add_subparsers(dest="server", required=True, parser_class=type(p))
    run_dispatcher, run_worker = service_servers.run_dispatcher, service_servers.run_worker

    d = servers.add_parser("dispatcher", help="the dispatcher (one per training run)")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--work-dir", default=default_of(run_dispatcher, "work_dir"),
                   help="journal directory: fault-tolerant mode, a restarted dispatcher recovers its state")
    timeout = default_of(run_dispatcher, "worker_timeout")
    d.add_argument("--worker-timeout", type=float, default=timeout,
                   help=f"seconds without a heartbeat before a worker counts as gone (default: {timeout})")
    d.set_defaults(func=_dispatcher)

    w = servers.add_parser("worker", help="a worker (any number, on any host that reaches the dispatcher)")
    w.add_argument("--dispatcher", required=True, help="HOST:PORT of the dispatcher")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--host", default=default_of(run_worker, "host"),
                   help="the name trainers reach this worker by (default: this host's name)")
    heartbeat = default_of(run_worker, "heartbeat")
    w.add_argument("--heartbeat", type=float, default=heartbeat,
                   help=f"seconds between heartbeats to the dispatcher (default: {heartbeat})")
    w.set_defaults(func=_worker)
