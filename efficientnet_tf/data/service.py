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
import weakref
from typing import Optional

import tensorflow as tf

from efficientnet_tf.data.config import SERVICE_MODES, DataConfig
from efficientnet_tf.files import is_url

logger = logging.getLogger(__name__)
service = tf.data.experimental.service
MODES = dict(zip(SERVICE_MODES, (service.ShardingPolicy.DYNAMIC, service.ShardingPolicy.OFF)))
EXIT_NO_WORKERS = 4  # process exit status when no worker delivered anything for worker_timeout seconds
RESUME_NOTE = ("tf.data service: the order of training examples is not reproducible, and a resumed run "
               "cannot continue exactly: it reads on from wherever the service's workers are, not from the "
               "rest of the interrupted epoch")


def split_address(address: str):
    """``"grpc://HOST:PORT"`` -> ``("HOST", PORT)``; anything else is a ValueError that quotes it."""
    protocol, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if protocol != "grpc" or not host or not port.isdigit():
        raise ValueError(f"tf.data service address must look like grpc://HOST:PORT, got {address!r}")
    return host, int(port)


def job_name(model_dir: str) -> str:
    """One job name for all replicas and workers of one run (one ``model_dir``).

    A run that restarts (preempted, resumed) joins its job again if the service still holds it,
    and reads on from where the service's workers are; a new run needs a new ``model_dir``, since
    a job name must not be shared by two different trainings.
    """
    where = model_dir.rstrip("/") if is_url(model_dir) else os.path.abspath(model_dir)  # gs://b is not ./gs:/b
    digest = hashlib.sha1(where.encode()).hexdigest()[:10]
    return f"efficientnet-{digest}"


def unsharded_context(ctx: Optional[tf.distribute.InputContext]) -> Optional[tf.distribute.InputContext]:
    """The input context a service pipeline should be built with: this replica's batch size, but
    one input pipeline, since the service (not the file list) splits the data between consumers."""
    if ctx is None:
        return None
    return tf.distribute.InputContext(1, 0, ctx.num_replicas_in_sync)


def train_dataset_fn(build, address: str, mode: str, job: str, worker_timeout: float):
    """A ``dataset_fn(input_context)`` for ``strategy.distribute_datasets_from_function`` whose
    batches come from the service. ``build(ctx)``: the finite training dataset for ``ctx``.

    The pass is repeated on the workers, so they keep producing across epoch ends (with DYNAMIC
    the dispatcher's splits repeat too: each pass still yields every example once).
    """
    logger.warning("%s (job %s at %s, sharding %s)", RESUME_NOTE, job, address, mode)

    def dataset_fn(ctx):
        return distribute(build(unsharded_context(ctx)).repeat(), address, mode, job, worker_timeout=worker_timeout)

    return dataset_fn


def distribute(dataset: tf.data.Dataset, address: str, mode: str = DataConfig.data_service_mode,
               job: Optional[str] = None, *, connect_timeout: float = 30.0,
               worker_timeout: float = DataConfig.data_service_timeout,
               max_outstanding_requests: Optional[int] = None) -> tf.data.Dataset:
    """``dataset``'s elements, produced by the service's workers.

    ``job``: the shared job name: every consumer of one run (each replica's or worker's input
    pipeline) reads from the one job, first come first served (see :func:`job_name`).
    ``connect_timeout``: seconds the dispatcher has to accept the dataset. ``worker_timeout``:
    seconds a consumer may wait for its next element before the process exits (0: wait forever).
    """
    if mode not in MODES:
        raise ValueError(f"data service mode must be one of {sorted(MODES)}, got {mode!r}")
    dataset = _log_produced(dataset)
    dataset_id = register(dataset, address, connect_timeout)
    remote = service.from_dataset_id(MODES[mode], address, dataset_id, dataset.element_spec, job_name=job,
                                     max_outstanding_requests=max_outstanding_requests)
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
    """Times each request for an element; a daemon thread ends the process when one waits too long.

    The thread holds only a weak reference, so it ends once the dataset and its iterators are gone.
    """

    def __init__(self, address: str, timeout: float, on_timeout=None):
        self.address, self.timeout = address, timeout
        self.on_timeout = on_timeout or _exit_no_workers
        self.waiting_since = None  # time.monotonic() of the pending request, None while none is pending
        self.logged = False
        self.ended_at = None  # pull index of the sentinel, once the current iterator reached it
        threading.Thread(target=_watch_loop, args=(weakref.ref(self),), daemon=True, name="tf.data service watch").start()

    def request(self, index):
        """Pull number ``index`` of an iterator begins; the pull after the sentinel is not a wait."""
        index = int(index)
        if index == 0:
            self.ended_at = None
        if self.ended_at is None or index != self.ended_at + 1:
            self.waiting_since = time.monotonic()
        return index

    def received(self, index, last):
        self.waiting_since, self.logged = None, False
        if bool(last):
            self.ended_at = int(index)
        return 0

    def check(self, grace: float) -> bool:
        """Logs a long wait once; calls on_timeout and returns False when the wait is over the timeout."""
        since = self.waiting_since
        waited = 0.0 if since is None else time.monotonic() - since
        if waited > grace and not self.logged:
            self.logged = True
            logger.warning("tf.data service at %s: waiting for a worker to deliver (%.0f s so far; "
                           "giving up after %g s)", self.address, waited, self.timeout)
        if waited <= self.timeout:
            return True
        self.on_timeout(f"tf.data service at {self.address}: no worker delivered an element for "
                        f"{self.timeout:g} s; start one with `python -m efficientnet_tf data-service "
                        f"worker --dispatcher {self.address.partition('://')[2]} --port PORT`")
        return False


def _watch_loop(ref):
    grace = min(10.0, ref().timeout / 4)
    while True:
        time.sleep(min(1.0, grace))
        watch = ref()
        if watch is None or not watch.check(grace):
            return
        del watch


def _exit_no_workers(message: str):
    """The waiting consumer is blocked inside the service's C++ client: nothing but an exit ends it."""
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(EXIT_NO_WORKERS)


def _empty(spec: tf.TensorSpec) -> tf.Tensor:
    """A tensor that fits ``spec``, with no elements where a dimension is unknown."""
    shape = [] if spec.shape.rank is None else [d or 0 for d in spec.shape]
    return tf.zeros(shape, spec.dtype)


def _watched(remote: tf.data.Dataset, address: str, timeout: float, on_timeout=None) -> tf.data.Dataset:
    """``remote`` with each pull timed: zip pulls the tick (the request) before the remote element.

    An empty sentinel after the last element tells the watch that a finite dataset has ended.
    """
    watch = _Watch(address, timeout, on_timeout)
    ticks = tf.data.Dataset.counter().map(lambda i: tf.py_function(watch.request, [i], tf.int64))
    empty = tf.nest.map_structure(_empty, remote.element_spec)
    flagged = tf.data.Dataset.zip(remote, tf.data.Dataset.from_tensors(False).repeat())
    flagged = flagged.concatenate(tf.data.Dataset.from_tensors((empty, True)))

    def received(index, item):
        element, last = item
        with tf.control_dependencies([tf.py_function(watch.received, [index, last], tf.int32)]):
            return tf.nest.map_structure(tf.identity, element), last

    watched = tf.data.Dataset.zip(ticks, flagged).map(received).filter(lambda _, last: tf.logical_not(last))
    return watched.map(lambda element, _: element)
