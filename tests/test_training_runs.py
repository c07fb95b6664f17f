"""train.py end to end on tiny settings: precision modes, outputs, and the distribution strategies."""
import math
import os
import subprocess

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from efficientnet_tf.cli import train as cli
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training.trainer import Trainer
from training_helpers import (SMALL, TINY, checkpoint_step, env, free_ports, checkpoint_values, read_json, run_train, train_cmd)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_one_step_smoke_per_precision(tmp_path, precision):
    cfg = cli.parse(TINY + SMALL + ["--model-dir", str(tmp_path), "--epochs", "1", "--steps-per-epoch", "1",
                                    "--eval-steps", "1", "--precision", precision, "--jit-compile", "auto"])[0]
    trainer = Trainer(cfg)
    assert trainer.model.dtype_policy.name == precision and trainer.jit == "off"
    assert keras.mixed_precision.global_policy().name == "float32"  # the model has its policy; the process keeps its own
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    metrics = trainer.train()
    assert metrics["steps"] == 1 and metrics["epochs"] == 1 and metrics["precision"] == precision
    assert metrics["examples"] == 16 and math.isfinite(metrics["loss"]) and 0 <= metrics["top1"] <= metrics["top5"] <= 1
    assert all(np.all(np.isfinite(np.asarray(v))) for v in trainer.model.trainable_variables)


@pytest.mark.slow
def test_full_outputs_and_saved_model(tmp_path):
    out = tmp_path / "run"
    result = run_train(out, *SMALL, "--epochs", "2", "--steps-per-epoch", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    cfg = config_lib.load(out / "config.json")
    assert cfg.model.image_size == 32 and cfg.model.dropout_rate == 0.2 and cfg.epochs == 2
    assert "epoch 2/2:" in result.stdout and "images/s" in result.stdout and "Held-out (validation" in result.stdout
    metrics = read_json(out / "metrics.json")
    assert (metrics["epochs"], metrics["steps"], metrics["split"]) == (2, 4, "validation")
    assert metrics["examples"] == 32 and metrics["images_per_sec"] > 0
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,step,lr,loss,top1,images_per_sec") and len(history) == 3
    for name in ("training_curves.png", "logs/train", "logs/eval", "checkpoints/checkpoint", "best/checkpoint"):
        assert (out / name).exists(), name
    assert not (out / "backup").exists()  # deleted once the run completed
    assert checkpoint_step(tf.train.latest_checkpoint(str(out / "checkpoints"))) == 4


@pytest.mark.slow
def test_export_writes_model_keras_and_serving_saved_model(tmp_path):
    cfg = cli.parse(TINY + SMALL + ["--model-dir", str(tmp_path), "--epochs", "1", "--steps-per-epoch", "1",
                                    "--eval-steps", "1"])[0]
    trainer = Trainer(cfg)
    trainer.train()
    trainer.export()
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    with trainer.ema.swapped():
        expected = trainer.model(images, training=False).numpy()
    np.testing.assert_allclose(model(images, training=False).numpy(), expected, rtol=1e-4, atol=1e-5)
    serving = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    probs = next(iter(serving(images=tf.constant(images)).values())).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_mixup_cutmix_and_randaugment_magnitude_reach_the_run(tmp_path, monkeypatch):
    from efficientnet_tf.data import augment

    used = []  # (op name, level) of every augmentation op the run's pipeline builds
    original = augment._op
    monkeypatch.setattr(augment, "_op", lambda name, level, consts: used.append((name, level)) or original(name, level, consts))
    cfg = cli.parse(TINY + ["--model-dir", str(tmp_path), "--epochs", "1", "--steps-per-epoch", "3", "--eval-steps", "1",
                            "--mixup", "0.2", "--cutmix", "1.0", "--augment", "randaugment",
                            "--randaugment-magnitude", "28", "--width", "0.25", "--depth", "0.1"])[0]
    assert (cfg.data.mixup, cfg.data.cutmix, cfg.data.randaugment_layers, cfg.data.randaugment_magnitude) == (0.2, 1.0, 2, 28)
    trainer = Trainer(cfg)
    batch = next(iter(trainer.inputs.train_dataset()))
    assert batch[1].shape == (16, 10) and np.allclose(batch[1].numpy().sum(-1), 1.0)  # soft labels
    assert float(np.min(np.max(batch[1].numpy(), -1))) < 1.0  # some rows mix two classes
    metrics = trainer.train()
    assert {level for _, level in used} == {28} and {name for name, _ in used} == set(augment.RANDAUGMENT_OPS)
    history = (tmp_path / "history.csv").read_text().splitlines()
    loss = float(history[1].split(",")[3])
    assert math.isfinite(loss) and math.isfinite(metrics["loss"]) and 0 <= metrics["top1"] <= 1


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    # 4 steps at 2 per loop: the N-step loop over a distributed iterator.
    result = run_train(tmp_path, *SMALL, "--strategy", "mirrored", "--cpu-devices", "2", "--epochs", "1",
                       "--steps-per-epoch", "4", "--steps-per-loop", "2", "--sync-bn")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "strategy=MirroredStrategy replicas=2" in result.stdout
    metrics = read_json(tmp_path / "metrics.json")
    assert (metrics["replicas"], metrics["steps"], metrics["examples"], metrics["train_calls"]) == (2, 4, 32, 2)


@pytest.mark.slow
def test_multi_worker_two_processes_identical_weights(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    # 4 steps in loops of 3 and 1: the workers' N-step loops must stay in step.
    procs = [subprocess.Popen(train_cmd(tmp_path, *SMALL, "--strategy", "multi_worker", "--epochs", "1",
                                        "--steps-per-epoch", "4", "--steps-per-loop", "3"),
                              env=env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=300)[0])
        finally:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(logs)
    assert all("strategy=CollectiveAllReduceStrategy replicas=2" in log for log in logs), logs[0][-3000:]
    dirs = [tmp_path, tmp_path / "workers" / "worker-1"]
    for d in dirs:
        metrics = read_json(d / "metrics.json")
        assert (metrics["steps"], metrics["replicas"], metrics["train_calls"]) == (4, 2, 2)
    chief, worker = (checkpoint_values(os.path.join(d, "checkpoints", "ckpt-4")) for d in dirs)
    assert chief.keys() == worker.keys() and len(chief) > 400  # the small B0's model, RMSProp slots, EMA
    for key in chief:
        np.testing.assert_array_equal(chief[key], worker[key], err_msg=key)
