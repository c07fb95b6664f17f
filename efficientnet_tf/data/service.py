"""Run a ``tf.data`` pipeline on tf.data service workers: ``distribute(dataset, "grpc://HOST:PORT", ...)``.

The dataset given is serialized to the dispatcher and runs on the workers (read, decode, crop,
augment, batch, mix); the caller only receives its elements. What this adds to
``tf.data.experimental.service``:

- a dispatcher that does not answer fails at start, naming its address, instead of being
  retried forever (the service's own client retries without end);
- a consumer left without elements (every worker gone) logs that it waits, and after
  ``worker_timeout`` seconds ends the process with :data:`EXIT_NO_WORKERS` and a clear error,
  since the service's client would block forever inside one C++ call;
- every worker logs the elements it produced (1, 2, 4, ... then every 1,000th).

Sharding (``mode``): ``"dynamic"`` (``ShardingPolicy.DYNAMIC``, the "distributed epoch"): the
dispatcher hands out the source's splits (files of a TFRecord source, elements of a
``from_tensor_slices``/``range`` source), so each example is produced at most once per epoch: exactly
once while no worker dies, since a dead worker's split in progress is lost. ``"off"``: every worker
makes its own full passes. Neither is deterministic, and neither resumes where a restarted run left off.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Optional

import tensorflow as tf

logger = logging.getLogger(__name__)
service = tf.data.experimental.service
MODES = {"dynamic": service.ShardingPolicy.DYNAMIC, "off": service.ShardingPolicy.OFF}
EXIT_NO_WORKERS = 4  # process exit status when no worker delivered anything for worker_timeout seconds
RESUME_NOTE = ("tf.data service: the order of training examples is not reproducible, and a resumed run "
               "starts a fresh pass over the data rather than the rest of the interrupted epoch")


def split_address(address: str):
    """``"grpc://HOST:PORT"`` -> ``("HOST", PORT)``; anything else is a ValueError that quotes it."""
    protocol, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if protocol != "grpc" or not host or not port.isdigit():
        raise ValueError(f"tf.data service address must look like grpc://HOST:PORT, got {address!r}")
    return host, int(port)


def job_name(model_dir: str, step: int) -> str:
    """One job name for all replicas and workers of one run (same ``model_dir``, same resumed step).

    A rerun that resumes at another step gets a new job: the service refuses nothing, but a job
    name must not be reused for a different pass over the data.
    """
    digest = hashlib.sha1(os.path.abspath(model_dir).encode()).hexdigest()[:10]
    return f"efficientnet-{digest}-step{step}"


def unsharded_context(ctx: Optional[tf.distribute.InputContext]) -> Optional[tf.distribute.InputContext]:
    """The input context a service pipeline should be built with: this replica's batch size, but
    one input pipeline, since the service (not the file list) splits the data between consumers."""
    if ctx is None:
        return None
    return tf.distribute.InputContext(1, 0, ctx.num_replicas_in_sync)


def consumer_args(ctx: Optional[tf.distribute.InputContext]) -> dict:
    """``consumer_index``/``num_consumers`` for coordinated reads: one consumer per input pipeline
    (per worker of a MultiWorker or TPU pod cluster); empty for a single pipeline."""
    if ctx is None or ctx.num_input_pipelines == 1:
        return {}
    return {"consumer_index": ctx.input_pipeline_id, "num_consumers": ctx.num_input_pipelines}


def distribute(dataset: tf.data.Dataset, address: str, mode: str = "dynamic", job: Optional[str] = None, *,
               input_context: Optional[tf.distribute.InputContext] = None, coordinated: bool = False,
               connect_timeout: float = 30.0, worker_timeout: float = 600.0,
               max_outstanding_requests: Optional[int] = None) -> tf.data.Dataset:
    """``dataset``'s elements, produced by the service's workers.

    ``job``: the shared job name (all consumers of one run read one job; see :func:`job_name`).
    ``coordinated``: round-robin reads indexed by ``input_context`` (needs an endless dataset).
    ``connect_timeout``: seconds the dispatcher has to accept the dataset. ``worker_timeout``:
    seconds a consumer may wait for its next element before the process exits (0: wait forever).
    """
    if mode not in MODES:
        raise ValueError(f"data service mode must be one of {sorted(MODES)}, got {mode!r}")
    consumers = consumer_args(input_context) if coordinated else {}
    if consumers and dataset.cardinality() != tf.data.INFINITE_CARDINALITY:
        raise ValueError("coordinated reads need an endless dataset: apply .repeat() before distribute")
    dataset = _log_produced(dataset)
    dataset_id = register(dataset, address, connect_timeout)
    remote = service.from_dataset_id(MODES[mode], address, dataset_id, dataset.element_spec, job_name=job,
                                     max_outstanding_requests=max_outstanding_requests, **consumers)
    return _watched(remote, address, worker_timeout) if worker_timeout > 0 else remote


def register(dataset: tf.data.Dataset, address: str, timeout: float):
    """Registers ``dataset`` with the dispatcher; ConnectionError naming ``address`` if it does not
    accept it within ``timeout`` seconds (refused at once, or no answer)."""
    host, port = split_address(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(f"no tf.data service dispatcher at {address}: {err}") from None
    result = {}

    def call():
        try:
            result["id"] = service.register_dataset(address, dataset)
        except Exception as err:  # noqa: BLE001  (re-raised below, in the caller's thread)
            result["error"] = err

    thread = threading.Thread(target=call, daemon=True, name="tf.data service register")
    thread.start()
    thread.join(timeout)
    if "error" in result:
        raise ConnectionError(f"tf.data service dispatcher at {address} refused the dataset: {result['error']}")
    if "id" not in result:
        raise ConnectionError(f"tf.data service dispatcher at {address} did not answer within {timeout:g} s "
                              "(is it a dispatcher, and is it running?)")
    return result["id"]


def _log_produced(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Runs on the worker: prints its running count of elements at 1, 2, 4, ... and every 1,000th."""
    def count(n, element):
        n = n + 1
        power_of_two = tf.equal(tf.bitwise.bitwise_and(n, n - 1), 0)
        log = tf.logical_or(power_of_two, tf.equal(n % 1000, 0))
        printed = tf.cond(log, lambda: _print_count(n), lambda: tf.constant(False))
        with tf.control_dependencies([printed]):
            return n, tf.nest.map_structure(tf.identity, element)

    return dataset.scan(tf.constant(0, tf.int64), count)


def _print_count(n):
    with tf.control_dependencies([tf.print("tf.data service worker: produced", n, "elements", output_stream=sys.stderr)]):
        return tf.constant(True)


class _Watch:
    """Times each request for an element; a daemon thread ends the process when one waits too long."""

    def __init__(self, address: str, timeout: float, on_timeout=None):
        self.address, self.timeout = address, timeout
        self.on_timeout = on_timeout or _exit_no_workers
        self.waiting_since = None  # time.monotonic() of the pending request, None while none is pending
        self.logged = False
        threading.Thread(target=self._run, daemon=True, name="tf.data service watch").start()

    def request(self):
        self.waiting_since = time.monotonic()
        return 0

    def received(self):
        self.waiting_since, self.logged = None, False
        return 0

    def _run(self):
        grace = min(10.0, self.timeout / 4)
        while True:
            time.sleep(min(1.0, grace))
            since = self.waiting_since
            waited = 0.0 if since is None else time.monotonic() - since
            if waited > grace and not self.logged:
                self.logged = True
                logger.warning("tf.data service at %s: waiting for a worker to deliver (%.0f s so far; "
                               "giving up after %g s)", self.address, waited, self.timeout)
            if waited > self.timeout:
                self.on_timeout(f"tf.data service at {self.address}: no worker delivered an element for "
                                f"{self.timeout:g} s; start one with `python -m efficientnet_tf data-service "
                                f"worker --dispatcher {self.address.partition('://')[2]} --port PORT`")
                return


def _exit_no_workers(message: str):
    """The waiting consumer is blocked inside the service's C++ client: nothing but an exit ends it."""
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(EXIT_NO_WORKERS)


def _watched(remote: tf.data.Dataset, address: str, timeout: float, on_timeout=None) -> tf.data.Dataset:
    """``remote`` with each pull timed: zip pulls the tick (request) before the remote element."""
    watch = _Watch(address, timeout, on_timeout)
    ticks = tf.data.Dataset.from_tensors(0).repeat().map(lambda _: tf.py_function(watch.request, [], tf.int32))

    def received(_, element):
        with tf.control_dependencies([tf.py_function(watch.received, [], tf.int32)]):
            return tf.nest.map_structure(tf.identity, element)

    return tf.data.Dataset.zip(ticks, remote).map(received)
