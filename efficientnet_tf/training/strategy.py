"""Picks the distribution strategy, precision and XLA setting for the hardware at hand.

``auto`` rules: TPU if one is configured, MirroredStrategy with more than one GPU, else the default
strategy; bfloat16 on TPUs and Ampere+ GPUs, float16 (with loss scaling) on older GPUs, float32 on
CPU; XLA on GPU/TPU and off on CPU, where it made B0 ~12x slower.
"""
from __future__ import annotations

import json
import os

import tensorflow as tf


def configure_cpu_devices(count: int) -> None:
    """Splits the CPU into ``count`` logical devices; must run before TensorFlow initialises devices."""
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def _tpu_configured(tpu: str) -> bool:
    return bool(tpu or os.environ.get("TPU_NAME") or os.path.exists("/dev/accel0"))


def create_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    if name == "auto":
        if _tpu_configured(tpu):
            name = "tpu"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
    if name == "multi_worker":
        # Reads the cluster from TF_CONFIG; RING collectives also work between CPU-only hosts.
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        local = os.path.exists("/dev/accel0") and not os.environ.get("TPU_NAME")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or ("local" if local else None))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}")


def _device_kind(strategy: tf.distribute.Strategy) -> str:
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"


def resolve_precision(precision: str, strategy: tf.distribute.Strategy) -> str:
    if precision != "auto":
        return precision
    kind = _device_kind(strategy)
    if kind == "tpu":
        return "mixed_bfloat16"
    if kind == "gpu":
        gpu = tf.config.list_physical_devices("GPU")[0]
        major, _ = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        return "mixed_bfloat16" if major >= 8 else "mixed_float16"
    return "float32"


def resolve_jit(jit_compile: str, strategy: tf.distribute.Strategy) -> bool:
    if jit_compile != "auto":
        return jit_compile == "on"
    return _device_kind(strategy) != "cpu"


def resolve_steps_per_loop(steps_per_loop: str, strategy: tf.distribute.Strategy, steps_per_epoch: int) -> int:
    """Train steps per host call: ``auto`` is 1 on CPU, where nothing waits on the host, and
    ``min(steps_per_epoch, 100)`` on GPU/TPU; a number is capped at the epoch's steps."""
    if str(steps_per_loop) == "auto":
        return 1 if _device_kind(strategy) == "cpu" else min(steps_per_epoch, 100)
    return min(int(steps_per_loop), steps_per_epoch)


def task_id() -> tuple:
    """(task type, index) from TF_CONFIG; a single process is the chief."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return task.get("type", "chief"), int(task.get("index", 0))


def is_chief() -> bool:
    """The chief, or worker 0 when the cluster has no chief (MultiWorkerMirroredStrategy's convention)."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    kind, index = task_id()
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def output_dir(model_dir: str) -> str:
    """``model_dir`` on the chief; ``model_dir/workers/<type>-<index>`` elsewhere (all workers must save)."""
    if is_chief():
        return model_dir
    kind, index = task_id()
    return os.path.join(model_dir, "workers", f"{kind}-{index}")
