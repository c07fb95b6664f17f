"""The one-shot accelerator benchmark that ``benchmarks/device.sh`` runs: B0 inference (Keras and
SavedModel in float16/bfloat16 with XLA, ONNX Runtime's CUDA or TensorRT provider when installed),
B0 training on synthetic data (``train_throughput.py``: mixed precision, XLA, N steps per loop), and
B0 training fed by the real input pipeline with RandAugment (``efficientnet-tf train``) on one GPU
and, where there are several, on two under MirroredStrategy, then one table against the anchors
(NVIDIA's A100 B0 figures, per GPU). A step that fails prints its error and the
rest go on: the script must give what it can in its one run.

    python benchmarks/device.py [--smoke]   # --smoke: toy sizes on CPU, as the tests run it
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from efficientnet_tf import create_model  # noqa: E402
from efficientnet_tf.serving.saved_model import export_saved_model  # noqa: E402
from inference import latency_and_rate  # noqa: E402  (benchmarks/, this script's folder)

ANCHORS = {"training": 3454.0, "inference": 9730.0}  # NVIDIA's EfficientNet-B0 on one A100, AMP, img/s
FULL = {"size": 224, "infer_batch": 1024, "train_batch": 256, "steps_per_loop": 100, "steps": 200, "seconds": 10.0}
SMOKE = {"size": 32, "infer_batch": 4, "train_batch": 4, "steps_per_loop": 2, "steps": 4, "seconds": 0.0}


def rate(fn, images, seconds: float) -> float:
    return latency_and_rate(fn, images, seconds)[1]


def onnx_provider() -> str:
    try:
        import onnxruntime as ort
    except ImportError:
        return ""
    found = ort.get_available_providers()
    return next((p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in found), "")


def inference(cfg: dict, gpu: bool, results: dict) -> None:
    size, batch = cfg["size"], cfg["infer_batch"]
    images = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    for policy in ("mixed_float16", "mixed_bfloat16") if gpu else ("mixed_bfloat16",):
        keras.config.set_dtype_policy(policy)
        try:
            model = create_model("b0", input_shape=(size, size, 3))
        finally:
            keras.config.set_dtype_policy("float32")
        call = tf.function(lambda x, m=model: m(x, training=False), jit_compile=True)
        step(results, f"inference Keras {policy} XLA", lambda: rate(lambda x: call(tf.constant(x)), images, cfg["seconds"]))

        def saved_model(m=model):
            with tempfile.TemporaryDirectory() as tmp:
                serving = tf.saved_model.load(export_saved_model(m, os.path.join(tmp, "sm"))).signatures["serving_default"]
                return rate(lambda x: serving(images=tf.constant(x))["probabilities"], images, cfg["seconds"])
        step(results, f"inference SavedModel {policy}", saved_model)
    provider = onnx_provider()
    if not provider:
        print("inference ONNX Runtime: skipped (no CUDA or TensorRT provider installed)", flush=True)
        return

    def onnx_runtime():
        import onnxruntime as ort

        from efficientnet_tf.serving.onnx_export import export_onnx
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(create_model("b0", input_shape=(size, size, 3)), os.path.join(tmp, "b0.onnx"))
            session = ort.InferenceSession(path, providers=[provider, "CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            return rate(lambda x: session.run(None, {name: x})[0], images, cfg["seconds"])
    step(results, f"inference ONNX Runtime {provider}", onnx_runtime)


def run(cmd, pattern: str, timeout: int, **env) -> float:
    """The last rate ``pattern`` (one group) finds in the output of ``cmd``, run with ``env`` added."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO, **env})
    found = re.findall(pattern, done.stdout + done.stderr)
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"exit {done.returncode}: {tail[0]}")
    return float(found[-1].replace(",", ""))


def anchor_for(name: str) -> float:
    """The anchor of a table row: NVIDIA's A100 figure, per GPU, so twice it for the two-replica run."""
    return ANCHORS["inference" if name.startswith("inference") else "training"] * (2 if "mirrored" in name else 1)


def replicas_case(gpus: int):
    """(name, extra train flags, environment) of the two-GPU run, or None with fewer GPUs; the same
    command over two logical CPUs is tests/test_accelerator_path.py's."""
    if gpus > 1:
        return "training real pipeline, 2 GPUs mirrored", ["--strategy", "mirrored"], {"CUDA_VISIBLE_DEVICES": "0,1"}
    return None


def training(cfg: dict, gpus: int, results: dict) -> None:
    one_gpu = {"CUDA_VISIBLE_DEVICES": "0"} if gpus > 1 else {}
    synthetic = [sys.executable, os.path.join(REPO, "benchmarks", "train_throughput.py"), "--batch-size",
                 str(cfg["train_batch"]), "--image-size", str(cfg["size"]), "--steps-per-loop",
                 str(cfg["steps_per_loop"]), "--loops", "2", "--rounds", "1"]
    step(results, "training synthetic (AMP, XLA)",
         lambda: run(synthetic, rf"ours   loop {cfg['steps_per_loop']}\s+([\d.]+) images/s", 900, **one_gpu))
    cases = [("training real pipeline + RandAugment", cfg["train_batch"], [], one_gpu)]
    two = replicas_case(gpus)
    if two:
        cases.append((two[0], 2 * cfg["train_batch"], two[1], two[2]))
    for name, batch, flags, env in cases:
        with tempfile.TemporaryDirectory() as tmp:
            real = [sys.executable, "-m", "efficientnet_tf", "train", "--dataset", "digits", "--augment", "randaugment",
                    "--image-size", str(cfg["size"]), "--batch-size", str(batch), "--steps-per-loop",
                    str(cfg["steps_per_loop"]), "--epochs", "2", "--steps-per-epoch", str(cfg["steps"]), "--eval-steps",
                    "1", "--no-export", "--model-dir", tmp, *flags]
            # The second epoch's rate: the first one's includes compiling the step.
            step(results, name, lambda: run(real, r"([\d.,]+) images/s", 900, **env))


def step(results: dict, name: str, measure) -> None:
    try:
        results[name] = measure()
        print(f"{name}: {results[name]:.1f} img/s", flush=True)
    except Exception as err:  # noqa: BLE001 -- a one-shot run reports a failed step and goes on
        print(f"{name}: failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="toy sizes, for a CPU test that the script runs")
    args = parser.parse_args(argv)
    cfg, gpus = (SMOKE if args.smoke else FULL), len(tf.config.list_physical_devices("GPU"))
    devices = [d.name for d in tf.config.list_physical_devices()]
    print(f"devices {devices}; B0 at {cfg['size']} px; inference batch {cfg['infer_batch']}, "
          f"training batch {cfg['train_batch']}, {cfg['steps_per_loop']} steps per loop", flush=True)
    results: dict = {}
    inference(cfg, gpus > 0, results)
    training(cfg, gpus, results)
    print(f"\n{'measure':<44}{'img/s':>10}{'A100 anchor':>13}{'ratio':>8}")
    for name, value in results.items():
        anchor = anchor_for(name)
        print(f"{name:<44}{value:>10.1f}{anchor:>13.0f}{value / anchor:>8.2f}")
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
