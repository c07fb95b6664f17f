"""Picks the distribution strategy, precision and XLA setting for the hardware at hand.

``auto`` rules: TPU if one is configured, MirroredStrategy with more than one GPU, else the default
strategy; bfloat16 on TPUs and Ampere+ GPUs, float16 (with loss scaling) on older GPUs, float32 on
CPU; XLA on GPU and off on CPU, where it made B0 ~12x slower (see :func:`resolve_jit`).
"""
from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping

import tensorflow as tf

from efficientnet_tf.run_dir import RunDir


def configure_cpu_devices(count: int) -> None:
    """Splits the CPU into ``count`` logical devices; must run before TensorFlow initialises devices."""
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def tpu_configured(tpu: str = "", dev: str = "/dev", environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a TPU is named (``--tpu``, ``TPU_NAME``) or attached: TPU VMs up to v4 expose
    ``/dev/accel*``, v5e/v5p/v6e ``/dev/vfio/<N>``; ``/dev/vfio/vfio`` alone is VFIO's control node, on
    any Linux with VFIO. ``dev`` and ``environ`` let tests point it at a fake machine."""
    if tpu or environ.get("TPU_NAME"):
        return True
    return bool(glob.glob(os.path.join(dev, "accel*")) or glob.glob(os.path.join(dev, "vfio", "[0-9]*")))


def tpu_resolver_name(tpu: str = "", environ: Mapping[str, str] = os.environ) -> str:
    """TPUClusterResolver's ``tpu``: ``--tpu``, else ``TPU_NAME``, else "local", the VM's own chips
    (None there raises "Please provide a TPU Name")."""
    return tpu or environ.get("TPU_NAME") or "local"


def strategy_kind(name: str, tpu: str = "", dev: str = "/dev", environ: Mapping[str, str] = os.environ) -> str:
    """The strategy ``auto`` stands for on this machine; any other name is returned as given."""
    if name != "auto":
        return name
    if tpu_configured(tpu, dev, environ):
        return "tpu"
    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"


def create_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    name = strategy_kind(name, tpu)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
    if name == "multi_worker":
        # Reads the cluster from TF_CONFIG; RING collectives also work between CPU-only hosts.
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_resolver_name(tpu))
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


def resolve_jit(jit_compile: str, strategy: tf.distribute.Strategy) -> str:
    """What XLA compiles (:data:`steps.JIT_MODES`): ``auto`` and ``on`` compile the whole replica step
    for one replica and its forward and backward pass for several, where the optimizer's all-reduce
    stays outside XLA; ``auto`` is off on CPU. A TPU compiles the whole loop itself, so it is "off"
    there whatever was asked."""
    kind = _device_kind(strategy)
    if kind == "tpu" or jit_compile == "off" or (jit_compile == "auto" and kind == "cpu"):
        return "off"
    return "step" if strategy.num_replicas_in_sync == 1 else "grads"


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
    return RunDir(model_dir).worker(*task_id()).root
