"""Train-pipeline throughput (RandAugment(2, 10), 224 px) locally and through the tf.data service.

    python benchmarks/data_service.py [--seconds 15] [--batch 32]

Three cases, in images/s: the pipeline in a process pinned to one core; through a dispatcher and
one worker pinned to one core (os.sched_setaffinity); through two workers pinned to one core
each. The consumer is never pinned. It prints the ratios: one worker against local is the
service's own overhead, two against one is the scaling. The images are the ~500x375 JPEGs of
benchmarks/input_pipeline.py, written as 8 TFRecord shards, so DYNAMIC sharding splits files.
Everything listens on 127.0.0.1; every server is stopped (SIGTERM) at the end.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import tensorflow as tf

from efficientnet_tf.data import PipelineConfig, build_dataset, service
from input_pipeline import make_jpegs

SHARDS, PER_SHARD = 8, 40


def write_shards(directory: str) -> str:
    jpegs = make_jpegs(SHARDS * PER_SHARD)
    for shard in range(SHARDS):
        with tf.io.TFRecordWriter(os.path.join(directory, f"train-{shard:05d}-of-{SHARDS:05d}")) as writer:
            for i, jpeg in enumerate(jpegs[shard * PER_SHARD:(shard + 1) * PER_SHARD]):
                feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
                           "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1 + i % 10]))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return directory


def train_pipeline(directory: str, batch: int) -> tf.data.Dataset:
    dataset, _ = build_dataset(f"tfrecord:{directory}", "train", 224, batch, True, PipelineConfig(augment="randaugment"),
                               seed=0)
    return dataset.repeat()


def measure(dataset: tf.data.Dataset, seconds: float) -> float:
    """Images/s over ``seconds``, after two warm-up batches."""
    iterator = iter(dataset)
    for _ in range(2):
        next(iterator)
    start, seen = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        seen += int(next(iterator)[1].shape[0])
    return seen / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 300) -> None:
    """Until something accepts connections on ``port`` (a server's TensorFlow start can take minutes)."""
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def server(args, core=None) -> subprocess.Popen:
    """A data-service server as a child process, pinned to ``core`` if given."""
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    return subprocess.Popen([sys.executable, "-m", "efficientnet_tf", "data-service", *map(str, args)],
                            preexec_fn=pin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def through_service(directory: str, args, cores) -> float:
    port = free_port()
    procs = [server(["dispatcher", "--port", port])]
    try:
        worker_ports = [free_port() for _ in cores]
        procs += [server(["worker", "--dispatcher", f"127.0.0.1:{port}", "--port", p, "--host", "127.0.0.1"], core)
                  for p, core in zip(worker_ports, cores)]
        for p in [port, *worker_ports]:
            wait_listening(p)
        time.sleep(2)  # the workers' first heartbeats
        remote = service.distribute(train_pipeline(directory, args.batch), f"grpc://127.0.0.1:{port}", "dynamic",
                                    f"benchmark-{len(cores)}", connect_timeout=60)
        return measure(remote, args.seconds)
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time per case")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--local-only", metavar="DIR", help=argparse.SUPPRESS)  # the pinned child's job
    args = parser.parse_args()
    if args.local_only:  # this child was pinned to one core before it started
        print(measure(train_pipeline(args.local_only, args.batch), args.seconds))
        return
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as directory:
        write_shards(directory)
        child = [sys.executable, __file__, "--local-only", directory, "--seconds", str(args.seconds), "--batch", str(args.batch)]
        local = float(subprocess.run(child, check=True, capture_output=True, text=True,
                                     preexec_fn=lambda: os.sched_setaffinity(0, {cores[0]})).stdout.split()[-1])
        print(f"local: {local:.1f} images/s", flush=True)
        one = through_service(directory, args, cores[:1])
        print(f"1 worker: {one:.1f} images/s", flush=True)
        two = through_service(directory, args, cores[:2])
    print(f"{'case':<36} {'images/s':>9}")
    for name, value in (("local, 1 core", local), ("service, 1 worker on 1 core", one),
                        (f"service, {min(2, len(cores))} workers on 1 core each", two)):
        print(f"{name:<36} {value:>9.1f}")
    print(f"ratios: 1 worker / local {one / local:.2f}, 2 workers / 1 worker {two / one:.2f}, "
          f"2 workers / local {two / local:.2f} (machine: {len(cores)} cores; the consumer is not pinned)")


if __name__ == "__main__":
    main()
