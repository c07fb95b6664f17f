"""``data-service dispatcher|worker``: the tf.data service's servers, for ``train --data-service``.

Each server's flags are generated from its function's signature, so their defaults live there."""
from __future__ import annotations

from efficientnet_tf.cli.flags import add_signature_flags, calling
from efficientnet_tf.data import service_servers

SERVERS = {
    "dispatcher": ("the dispatcher (one per training run)", service_servers.run_dispatcher, {
        "port": "the port to serve on",
        "work_dir": "journal directory: fault-tolerant mode, a restarted dispatcher recovers its state",
        "worker_timeout": "seconds without a heartbeat before a worker counts as gone",
    }),
    "worker": ("a worker (any number, on any host that reaches the dispatcher)", service_servers.run_worker, {
        "dispatcher": "HOST:PORT of the dispatcher",
        "port": "the port to serve on",
        "host": "the name trainers reach this worker by (none: this host's name)",
        "heartbeat": "seconds between heartbeats to the dispatcher",
    }),
}


def add_parsers(sub) -> None:
    p = sub.add_parser("data-service", help="tf.data service dispatcher or worker, for train --data-service")
    servers = p.add_subparsers(dest="server", required=True, parser_class=type(p))
    for name, (help_text, fn, helps) in SERVERS.items():
        s = servers.add_parser(name, help=help_text)
        add_signature_flags(s, fn, helps)
        s.set_defaults(func=calling(fn, helps))
