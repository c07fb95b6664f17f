"""A tf.data service on loopback for the tests: dispatcher and workers as subprocesses on free ports.

The ``service_cluster`` fixture kills, by pid, everything it started, and fails the test if any
server outlived it or a server that was only asked to stop (SIGTERM) exited non-zero.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from training_helpers import REPO, env, free_ports

SERVE = [sys.executable, "-m", "efficientnet_tf", "data-service"]
WORKER_TIMEOUT_S = 2  # dispatcher: a worker silent this long is gone (the CLI's default is 10 s)


class Cluster:
    def __init__(self, directory):
        self.directory = directory
        self.procs = {}  # name -> Popen
        self.port = free_ports(1)[0]
        self.address = f"grpc://127.0.0.1:{self.port}"

    def start(self, name, *args):
        """Starts one server, output to DIRECTORY/NAME.log (see :meth:`wait`)."""
        with open(self.log_path(name), "w", encoding="utf-8") as log:  # the child keeps its own copy
            self.procs[name] = subprocess.Popen([*SERVE, *map(str, args)], env=env(), cwd=REPO, stdout=log,
                                                stderr=subprocess.STDOUT, text=True)
        return self.procs[name]

    def wait(self, *names, timeout=300):
        """Until each server says it is serving (a TensorFlow start takes seconds, minutes on a loaded machine)."""
        deadline = time.time() + timeout
        for name in names:
            while "serving" not in self.log(name):
                assert self.procs[name].poll() is None, f"{name} exited early:\n{self.log(name)}"
                assert time.time() < deadline, f"{name} did not start:\n{self.log(name)}"
                time.sleep(0.1)

    def start_dispatcher(self, *args):
        return self.start("dispatcher", "dispatcher", "--port", self.port, "--worker-timeout", WORKER_TIMEOUT_S, *args)

    def start_worker(self, name):
        return self.start(name, "worker", "--dispatcher", f"127.0.0.1:{self.port}", "--port", free_ports(1)[0],
                          "--host", "127.0.0.1", "--heartbeat", 0.25)

    def log_path(self, name):
        return os.path.join(self.directory, f"{name}.log")

    def log(self, name) -> str:
        with open(self.log_path(name), encoding="utf-8") as f:
            return f.read()

    def produced(self, name) -> int:
        """The highest element count the worker has logged (0 if none)."""
        counts = [int(line.split()[-2]) for line in self.log(name).splitlines() if "worker: produced" in line]
        return max(counts, default=0)

    def stop(self, name, signum=signal.SIGTERM, timeout=30) -> int:
        proc = self.procs[name]
        proc.send_signal(signum)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            state = _proc_state(proc.pid)
            proc.kill()
            proc.wait()
            raise AssertionError(f"{name} ignored {signal.Signals(signum).name}:\n{self.log(name)}\n{state}") from None


def _proc_state(pid: int) -> str:
    """What the kernel says of a process that did not exit: signal masks, and each thread's state and wait."""
    keys = ("State", "Threads", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.split(":")[0] in keys]
        for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int)[:40]:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="utf-8") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/comm", encoding="utf-8") as comm, \
                    open(f"/proc/{pid}/task/{tid}/wchan", encoding="utf-8") as wchan:
                lines.append(f"thread {tid} {comm.read().strip()}: state {stat[0]}, utime {stat[11]}, "
                             f"stime {stat[12]}, wchan {wchan.read()}")
    except OSError as error:
        lines = [f"/proc/{pid}: {error}"]
    return "\n".join(lines)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_cluster(directory, workers=2) -> Cluster:
    cluster = Cluster(directory)
    try:
        cluster.start_dispatcher()  # workers retry until it listens
        names = [f"worker{i}" for i in range(workers)]
        for name in names:
            cluster.start_worker(name)
        cluster.wait("dispatcher", *names)
    except BaseException:  # a server that did not start: stop the others before failing
        for proc in cluster.procs.values():
            proc.kill()
            proc.wait()
        raise
    return cluster


def cleanup(cluster: Cluster) -> None:
    """SIGTERM to what still runs (workers first): each must exit 0, and no pid may outlive it."""
    codes = {}
    for name, proc in reversed(list(cluster.procs.items())):
        if proc.poll() is None:
            codes[name] = cluster.stop(name)
    leftovers = [p.pid for p in cluster.procs.values() if _alive(p.pid)]
    assert not leftovers, f"servers still running: {leftovers}"
    assert all(code == 0 for code in codes.values()), {n: (c, cluster.log(n)[-2000:]) for n, c in codes.items() if c}


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """A dispatcher and two workers for the whole test module (each server costs a TensorFlow start)."""
    cluster = start_cluster(tmp_path_factory.mktemp("service"))
    yield cluster
    cleanup(cluster)


@pytest.fixture
def service_cluster(tmp_path):
    """``start(workers=2)`` -> a fresh :class:`Cluster` of this test alone."""
    clusters = []
    yield lambda workers=2: clusters.append(start_cluster(tmp_path, workers)) or clusters[-1]
    for cluster in clusters:
        cleanup(cluster)
