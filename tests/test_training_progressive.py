"""Progressive learning end to end on digits: each stage's pipeline, the per-epoch history, exact resume
after a SIGKILL in stage 2, and the held-out top-1 of a progressive run."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from efficientnet_tf.cli import train as cli
from efficientnet_tf.data import augment
from efficientnet_tf.training import progressive
from efficientnet_tf.training.trainer import Trainer
from training_helpers import (REPO, SMALL, TINY, TRAIN_PY, checkpoint_step, checkpoint_values, env, fault_cmd,
                              read_json, run_train, start_train)

DETERMINISTIC = {"TF_DETERMINISTIC_OPS": "1"}
# 3 stages of one 4-step epoch each: 32 -> 40 -> 48 px, RandAugment 1 -> 5, mixup 0 -> 0.2, dropout 0.1 -> 0.3.
LOW = {"image_size": 32, "randaugment_magnitude": 1, "mixup": 0.0, "dropout_rate": 0.1}
HIGH = {"image_size": 48, "randaugment_magnitude": 5, "mixup": 0.2, "dropout_rate": 0.3}
PROGRESSIVE = ["--progressive", "3", "--image-size", "48", "--min-image-size", "32", "--augment", "randaugment",
               "--randaugment-magnitude", "5", "--min-randaugment-magnitude", "1", "--mixup", "0.2", "--min-mixup", "0",
               "--dropout-rate", "0.3", "--min-dropout-rate", "0.1"]
RUN = [*SMALL, *PROGRESSIVE, "--epochs", "3", "--steps-per-epoch", "4", "--deterministic", "--steps-per-loop", "1",
       "--backup-every-steps", "2"]
STAGE_COLUMNS = ("stage", *LOW)


def expected_stage(epoch: int, epochs: int = 3, stages: int = 3) -> dict:
    """The linear schedule, written out here: stage i of N is low + (high - low) * i / (N - 1)."""
    i = (epoch - 1) * stages // epochs
    values = {k: LOW[k] + (HIGH[k] - LOW[k]) * i / (stages - 1) for k in LOW}
    return {"stage": i + 1, **values, "image_size": int(values["image_size"] + 0.5)}


def _history(model_dir):
    lines = (model_dir / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")))) for line in lines[1:]]


def _final_weights(model_dir):
    values = checkpoint_values(tf.train.latest_checkpoint(str(model_dir / "checkpoints")))
    return {k: v for k, v in values.items() if not k.startswith("save_counter/")}


def _run(model_dir):
    result = subprocess.run(fault_cmd(model_dir, *RUN), capture_output=True, text=True, timeout=400,
                            env=env(**DETERMINISTIC))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("uninterrupted")
    return model_dir, _run(model_dir)


@pytest.mark.slow
def test_each_stage_gets_a_pipeline_of_its_size_and_magnitudes(tmp_path, monkeypatch):
    levels = []  # the RandAugment level of every op each pipeline builds
    original = augment._op
    monkeypatch.setattr(augment, "_op", lambda name, level, consts: levels.append(level) or original(name, level, consts))
    cfg = cli.parse(TINY + RUN + ["--model-dir", str(tmp_path)])[0]
    trainer = Trainer(cfg)
    shapes = []
    for stage in progressive.stages(cfg):
        levels.clear()
        images, labels, _ = next(iter(trainer.inputs.train_dataset(stage=stage)))
        shapes.append((tuple(images.shape), tuple(labels.shape), set(levels)))
        view = trainer.steps.train_model
        assert tuple(view(images, training=True).shape) == (16, 10)
    assert shapes == [((16, 32, 32, 3), (16,), {1}), ((16, 40, 40, 3), (16, 10), {3}), ((16, 48, 48, 3), (16, 10), {5})]
    assert trainer.model.input_shape == (None, 48, 48, 3)  # evaluated and exported at the run's own size


@pytest.mark.slow
def test_history_and_log_show_each_epochs_stage(uninterrupted):
    model_dir, out = uninterrupted
    rows = _history(model_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for row in rows:
        want = expected_stage(int(row["epoch"]))
        assert {k: row[k] for k in STAGE_COLUMNS} == pytest.approx(want, abs=1e-7), row
    assert [expected_stage(e)["image_size"] for e in (1, 2, 3)] == [32, 40, 48]
    assert "epoch 2/3: " in out and "| stage 2/3: 40 px, RandAugment 3, mixup 0.1, dropout 0.2 |" in out
    assert read_json(model_dir / "metrics.json")["image_size"] == 48


def _wait_for_backup_after(directory, proc, step, timeout=300):
    """The step of the first backup past ``step`` (polled), the process still running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        latest = tf.train.latest_checkpoint(str(directory))
        if latest and checkpoint_step(latest) > step:
            return checkpoint_step(latest)
        assert proc.poll() is None, f"train.py exited {proc.returncode} early:\n{proc.stdout.read()}"
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no backup past step {step} in time")


@pytest.mark.slow
def test_a_sigkill_in_stage_2_resumes_exactly(uninterrupted, tmp_path):
    proc = start_train(tmp_path, cmd=fault_cmd(tmp_path, *RUN), **DETERMINISTIC)
    _wait_for_backup_after(tmp_path / "backup", proc, 4)  # past epoch 1 (steps 1-4): in stage 2
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = checkpoint_step(tf.train.latest_checkpoint(str(tmp_path / "backup")))
    assert 4 < killed_at < 8, "the kill must land inside epoch 2, stage 2"

    out = _run(tmp_path)
    assert f"at step {killed_at} (epoch 2, {killed_at - 4} of its 4 steps done)" in out
    reference, resumed = _final_weights(uninterrupted[0]), _final_weights(tmp_path)
    assert reference.keys() == resumed.keys() and len(reference) > 100
    for key in reference:
        np.testing.assert_allclose(resumed[key], reference[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # Every column but the timings, and the train loss and top-1 of epoch 2, which the resumed run
    # averages over its own steps only.
    timing = ("images_per_sec", "seconds")
    for ours, theirs in zip(_history(tmp_path), _history(uninterrupted[0]), strict=True):
        skip = timing + (("loss", "top1") if ours["epoch"] == 2 else ())
        assert {k: v for k, v in ours.items() if k not in skip} == pytest.approx(
            {k: v for k, v in theirs.items() if k not in skip}, rel=1e-5, abs=1e-7)


def documented_command():
    """The digits command of docs/training.md's "Progressive learning" section, as its flags."""
    with open(os.path.join(REPO, "docs", "training.md"), encoding="utf-8") as f:
        section = f.read().split("## Progressive learning")[1]
    # The section also shows the ImageNet command (--recipe v2 --dataset ...); digits is the one without a dataset.
    line = next(l for l in section.splitlines() if l.startswith("efficientnet-tf train ") and "--dataset" not in l)
    return line.split()[2:]


@pytest.mark.slow
def test_the_documented_digits_run_reaches_95_percent_held_out(tmp_path):
    # The digits recipe (batch 64, seed 0) with the documented flags: 15 epochs, 5 per stage.
    command = [sys.executable, TRAIN_PY, *documented_command(), "--model-dir", str(tmp_path), "--no-export"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env(), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = read_json(tmp_path / "metrics.json")
    assert (metrics["split"], metrics["examples"], metrics["image_size"], metrics["epochs"]) == ("validation", 360, 40, 15)
    assert metrics["top1"] >= 0.95, metrics
    rows = _history(tmp_path)
    assert [(int(r["stage"]), int(r["image_size"])) for r in rows] == [(1, 32)] * 5 + [(2, 36)] * 5 + [(3, 40)] * 5
    assert [r["mixup"] for r in rows[::5]] == pytest.approx([0, 0.05, 0.1])
    assert [r["dropout_rate"] for r in rows[::5]] == pytest.approx([0.1, 0.15, 0.2])


@pytest.mark.slow
def test_a_v2_model_trains_in_stages_too(tmp_path):
    result = run_train(tmp_path, "--model", "v2-b0", "--progressive", "2", "--image-size", "48", "--min-image-size", "32",
                       "--epochs", "2", "--steps-per-epoch", "2", "--eval-steps", "1", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| stage 1/2: 32 px, mixup 0, dropout 0.2 |" in result.stdout
    assert [(int(r["stage"]), int(r["image_size"])) for r in _history(tmp_path)] == [(1, 32), (2, 48)]
    metrics = read_json(tmp_path / "metrics.json")
    assert (metrics["steps"], metrics["image_size"], metrics["model"]) == (4, 48, "v2-b0")
