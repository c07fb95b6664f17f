"""Shared pieces of the training tests: tiny configs, train.py subprocesses, free ports, fault injection."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PY = os.path.join(REPO, "train.py")
FAULT_TRAIN = os.path.join(REPO, "tests", "fault_train.py")
# B0 at 32 px, a few steps: seconds per step on 2 cores, minutes for the whole file.
TINY = ["--image-size", "32", "--batch-size", "16", "--eval-steps", "2", "--no-export", "--seed", "1"]


def env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **extra}


def train_cmd(model_dir, *args) -> list:
    return [sys.executable, TRAIN_PY, *TINY, "--model-dir", str(model_dir), *map(str, args)]


def run_train(model_dir, *args, timeout=240, **extra_env) -> subprocess.CompletedProcess:
    return subprocess.run(train_cmd(model_dir, *args), env=env(**extra_env), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def start_train(model_dir, *args, cmd=None, **extra_env) -> subprocess.Popen:
    return subprocess.Popen(cmd or train_cmd(model_dir, *args), env=env(**extra_env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO)


def wait_for_checkpoint(directory, proc, timeout=180) -> str:
    """Polls until ``directory`` (a CheckpointManager dir) has a checkpoint; returns its path."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        latest = tf.train.latest_checkpoint(str(directory))
        if latest:
            return latest
        if proc.poll() is not None:
            raise AssertionError(f"train.py exited {proc.returncode} early:\n{proc.stdout.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no checkpoint appeared in time")


def checkpoint_step(path) -> int:
    return int(str(path).rsplit("-", 1)[1])


def checkpoint_values(checkpoint_path) -> dict:
    """Every variable in a checkpoint (model, optimizer slots, EMA, counters), by checkpoint key."""
    reader = tf.train.load_checkpoint(str(checkpoint_path))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def all_finite(weights: dict) -> bool:
    return all(np.all(np.isfinite(v)) for v in weights.values() if np.issubdtype(np.asarray(v).dtype, np.floating))


def read_json(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def free_ports(n: int) -> list:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# A B0 cut down to 7 blocks and a quarter of the width: the same code paths, traced in seconds.
SMALL = ["--width", "0.25", "--depth", "0.2"]

def fault_cmd(model_dir, *args, nan_at: str = "", tap_file=None) -> list:
    """train.py through ``tests/fault_train.py``: NaN images in training build B from its batch K on
    (``nan_at="B:K"``) and/or each training batch logged to ``tap_file`` (read it with :func:`read_tap`)."""
    faults = (["--nan-at", nan_at] if nan_at else []) + (["--tap-file", str(tap_file)] if tap_file else [])
    return [sys.executable, FAULT_TRAIN, *faults, *TINY, "--model-dir", str(model_dir), *map(str, args)]


def read_tap(path) -> dict:
    """{build: [the image digests of each batch, in the order produced]} from a tap file."""
    builds = {}
    for line in open(path, encoding="utf-8").read().splitlines():
        build, batch, digests = line.split(" ")
        rows = builds.setdefault(int(build), [])
        assert int(batch) == len(rows), f"batches of build {build} out of order"
        rows.append(digests.split(","))
    return builds
