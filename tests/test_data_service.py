"""tf.data service on 127.0.0.1: the servers, exactly-once sharding, failures at start, dead workers.

Every server is a subprocess on a free loopback port (``service_helpers``), stopped or killed by
pid at the end. The tf.data service facts checked here, from its documentation: DYNAMIC
("distributed_epoch") splits the source among workers, so one pass yields each element once;
OFF ("parallel_epochs") has every worker make its own full pass, so two workers yield each twice.
"""
import collections
import hashlib
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from efficientnet_tf.data import build_dataset, service
from efficientnet_tf.preprocessing import CropPolicy
from service_helpers import Cluster, cleanup, service_cluster, shared_cluster  # noqa: F401  (fixtures)
from training_helpers import REPO, TRAIN_PY, env, free_ports, read_json

NUM_DIGITS_TRAIN = 1437  # scikit-learn's 1,797 digits less the 360 kept for validation
WHOLE_IMAGE = CropPolicy(crop_padding=0, area_range=(1.0, 1.0), flip=False)  # train crop = the whole image


def _image_hashes(dataset) -> collections.Counter:
    return collections.Counter(hashlib.sha1(image.tobytes()).hexdigest()
                               for images, _ in dataset.as_numpy_iterator() for image in images)


def test_dynamic_sharding_yields_each_training_image_once_per_epoch(shared_cluster):  # noqa: F811
    # The training pipeline (file and record shuffles, per-example seeds), with a crop that keeps
    # the whole image so that each example's pixels identify it.
    train, _ = build_dataset("digits", "train", 32, 64, True, seed=3, crop=WHOLE_IMAGE, drop_remainder=False)
    local = _image_hashes(train)
    assert sum(local.values()) == NUM_DIGITS_TRAIN
    remote = service.distribute(train, shared_cluster.address, "dynamic", "exactly-once", worker_timeout=60)
    for epoch in range(2):
        assert _image_hashes(remote) == local, f"epoch {epoch}"


def test_sharding_modes_by_id(shared_cluster):  # noqa: F811
    ids = tf.data.Dataset.range(300).map(lambda i: i * 7)
    once = service.distribute(ids, shared_cluster.address, "dynamic", "ids-dynamic", worker_timeout=60)
    assert sorted(int(i) for i in once) == [7 * i for i in range(300)]
    # Repeated on the workers (as train_dataset_fn does): the dispatcher's splits repeat as well.
    passes = service.distribute(ids.repeat(3), shared_cluster.address, "dynamic", "ids-repeat", worker_timeout=60)
    assert collections.Counter(int(i) for i in passes) == {7 * i: 3 for i in range(300)}
    twice = service.distribute(ids, shared_cluster.address, "off", "ids-off", worker_timeout=60)
    assert collections.Counter(int(i) for i in twice) == {7 * i: 2 for i in range(300)}
    with pytest.raises(ValueError, match="mode must be one of"):
        service.distribute(ids, shared_cluster.address, "file")


def test_unsharded_context_keeps_the_replica_batch():
    ctx = service.unsharded_context(tf.distribute.InputContext(2, 1, 4))
    assert (ctx.num_input_pipelines, ctx.input_pipeline_id, ctx.get_per_replica_batch_size(64)) == (1, 0, 16)
    assert service.unsharded_context(None) is None
    assert service.job_name("/runs/a") == service.job_name("/runs/a/") != service.job_name("/runs/b")


def test_no_dispatcher_or_a_silent_one_fails_within_the_timeout_naming_the_address():
    refused = f"grpc://127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    with pytest.raises(ConnectionError, match=f"no tf.data service dispatcher at {refused}"):
        service.distribute(tf.data.Dataset.range(3), refused, connect_timeout=5)
    with socket.socket() as listener:  # accepts connections but never speaks gRPC
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        silent = f"grpc://127.0.0.1:{listener.getsockname()[1]}"
        start = time.time()
        with pytest.raises(ConnectionError, match=f"dispatcher at {silent} did not answer within 2 s"):
            service.distribute(tf.data.Dataset.range(3), silent, connect_timeout=2)
        assert time.time() - start < 10
    with pytest.raises(ValueError, match="grpc://HOST:PORT, got '127.0.0.1:5000'"):
        service.split_address("127.0.0.1:5000")


# A dispatcher in this child process and no worker at all: the consumer must give up by itself.
NO_WORKER = """
import tensorflow as tf
from efficientnet_tf.data import service
dispatcher = tf.data.experimental.service.DispatchServer(tf.data.experimental.service.DispatcherConfig(port={port}))
print(sum(int(x) for x in service.distribute(tf.data.Dataset.range(10), dispatcher.target, worker_timeout=4)))
"""


def test_no_worker_waits_then_exits_with_a_clear_error():
    port = free_ports(1)[0]
    start = time.time()
    done = subprocess.run([sys.executable, "-c", NO_WORKER.format(port=port)], env=env(), cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    address = f"grpc://localhost:{port}"
    assert done.returncode == service.EXIT_NO_WORKERS, done.stdout + done.stderr[-3000:]
    assert f"tf.data service at {address}: waiting for a worker" in done.stderr
    assert f"ERROR: tf.data service at {address}: no worker delivered an element for 4 s" in done.stderr
    assert time.time() - start < 120


def test_watch_times_only_pending_pulls():
    calls = []
    finite = service._watched(tf.data.Dataset.range(3), "grpc://127.0.0.1:1", 1.0, on_timeout=calls.append)
    for _ in range(2):
        assert [int(x) for x in finite] == [0, 1, 2]
    time.sleep(2.5)  # an ended iterator is not a wait
    assert calls == []
    stalled = tf.data.Dataset.range(2).map(lambda x: tf.py_function(lambda v: time.sleep(3) or v, [x], tf.int64))
    assert [int(x) for x in service._watched(stalled, "grpc://127.0.0.1:1", 1.0, on_timeout=calls.append)] == [0, 1]
    assert len(calls) == 1 and "grpc://127.0.0.1:1: no worker delivered an element for 1 s" in calls[0]


def test_servers_exit_zero_on_sigterm_and_sigint(shared_cluster):  # noqa: F811
    """Last in the module: it stops the shared servers (the fixture then finds nothing left)."""
    assert shared_cluster.produced("worker0") + shared_cluster.produced("worker1") > 0
    assert shared_cluster.stop("worker0", signal.SIGTERM) == 0
    assert shared_cluster.stop("worker1", signal.SIGINT) == 0
    assert shared_cluster.stop("dispatcher", signal.SIGTERM) == 0
    assert "worker: stopped on SIGINT" in shared_cluster.log("worker1")
    assert "dispatcher: stopped on SIGTERM" in shared_cluster.log("dispatcher")


# Reads a dataset registered earlier, by id: NOT_FOUND unless the dispatcher knows that id.
FROM_ID = """
import tensorflow as tf
dataset = tf.data.experimental.service.from_dataset_id(
    "parallel_epochs", "{address}", dataset_id="{dataset_id}", element_spec=tf.TensorSpec([], tf.int64))
print(sorted(int(x) for x in dataset))
"""


@pytest.mark.slow
def test_a_fault_tolerant_dispatcher_restarted_after_sigterm_still_knows_its_datasets(tmp_path):
    """--work-dir: what the journal held at the SIGTERM is what the restarted dispatcher serves."""
    cluster = Cluster(tmp_path)
    journal = tmp_path / "journal"
    try:
        cluster.start_dispatcher("--work-dir", journal)
        cluster.start_worker("worker0")
        cluster.wait("dispatcher", "worker0")
        dataset_id = tf.data.experimental.service.register_dataset(cluster.address, tf.data.Dataset.range(5))
        assert cluster.stop("dispatcher") == 0 and f"fault-tolerant, journal in {journal}" in cluster.log("dispatcher")
        cluster.start_dispatcher("--work-dir", journal)  # same port; the worker's heartbeats find it again
        cluster.wait("dispatcher")
        script = FROM_ID.format(address=cluster.address, dataset_id=dataset_id.numpy().decode())
        read = subprocess.run([sys.executable, "-c", script], env=env(), cwd=REPO, capture_output=True, text=True,
                              timeout=180)
        assert read.returncode == 0, read.stderr[-3000:]
        assert read.stdout.splitlines()[-1] == "[0, 1, 2, 3, 4]"
    finally:
        cleanup(cluster)


def _train_cmd(model_dir, address, *args):
    """Digits at 32 px through the service; eval (2 batches) stays local; exports at the end."""
    return [sys.executable, TRAIN_PY, "--image-size", "32", "--batch-size", "16", "--eval-steps", "2", "--seed", "1",
            "--model-dir", str(model_dir), "--data-service", address, "--data-service-timeout", "120", *map(str, args)]


@pytest.mark.slow
def test_loopback_training_through_two_workers_one_killed_mid_epoch(service_cluster, tmp_path):  # noqa: F811
    """Both workers serve the run; SIGKILL one mid-epoch 1: training goes on, evaluates locally, exports."""
    cluster = service_cluster(workers=2)
    proc = subprocess.Popen(_train_cmd(tmp_path / "run", cluster.address, "--epochs", 2, "--steps-per-epoch", 8),
                            env=env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not (cluster.produced("worker0") and cluster.produced("worker1")):  # both serve this job
            assert proc.poll() is None and time.time() < deadline, "no elements from both workers"
            time.sleep(0.2)
        cluster.procs["worker0"].send_signal(signal.SIGKILL)
        assert cluster.procs["worker0"].wait(30) == -signal.SIGKILL
        output = proc.communicate(timeout=400)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-4000:]
    assert "a resumed run cannot continue exactly" in output and "interrupted epoch (job efficientnet-" in output
    assert "Epoch 1/2" in output and "epoch 2/2" in output
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert (metrics["epochs"], metrics["steps"], metrics["examples"]) == (2, 16, 32)  # eval: 2 local batches of 16
    assert (tmp_path / "run" / "model.keras").exists() and (tmp_path / "run" / "saved_model" / "saved_model.pb").exists()
