"""Fault tolerance of train.py: SIGKILL then resume, SIGTERM saves and exits 0, NaN exits non-zero."""
import os
import signal
import subprocess
import sys

import pytest
import tensorflow as tf

from training_helpers import (NAN_SCRIPT, TRAIN_PY, TINY, all_finite, checkpoint_step, checkpoint_values, read_json,
                              run_train, start_train, wait_for_checkpoint)

# 2 epochs of 6 steps, a backup every 2 steps: the first backup lands mid-epoch 1.
RUN = ["--epochs", "2", "--steps-per-epoch", "6", "--backup-every-steps", "2"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_resumes_from_backup(tmp_path):
    proc = start_train(tmp_path, *RUN)
    backup = wait_for_checkpoint(tmp_path / "backup", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = checkpoint_step(tf.train.latest_checkpoint(str(tmp_path / "backup")))
    assert 2 <= checkpoint_step(backup) <= killed_at < 6, "the kill must land mid-epoch 1"
    assert not (tmp_path / "checkpoints").exists() or tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) is None

    result = run_train(tmp_path, *RUN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Resumed from {tmp_path / 'backup'}/ckpt-{killed_at} at step {killed_at}" in result.stdout
    assert "epoch 1/2:" in result.stdout and "epoch 2/2:" in result.stdout
    metrics = read_json(tmp_path / "metrics.json")
    assert (metrics["epochs"], metrics["steps"]) == (2, 12)
    assert [line.split(",")[:2] for line in (tmp_path / "history.csv").read_text().splitlines()[1:]] == \
        [["1", "6"], ["2", "12"]]


@pytest.mark.slow
def test_sigterm_backs_up_and_exits_zero(tmp_path):
    proc = start_train(tmp_path, *RUN)
    wait_for_checkpoint(tmp_path / "backup", proc)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    saved = checkpoint_step(tf.train.latest_checkpoint(str(tmp_path / "backup")))
    assert f"SIGTERM: backed up at step {saved}, exiting" in out and 2 <= saved <= 12
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.slow
def test_nan_loss_exits_nonzero_and_keeps_checkpoints(tmp_path):
    # Images turn NaN from the 8th batch: epoch 1 (6 steps) completes, step 8 diverges.
    cmd = [sys.executable, "-c", NAN_SCRIPT, TRAIN_PY, *TINY, "--model-dir", str(tmp_path), *RUN]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "NAN_AFTER": "7", "PYTHONPATH": os.path.dirname(TRAIN_PY)})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Training diverged: loss nan at step 8" in result.stdout
    last_good = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert checkpoint_step(last_good) == 6
    assert checkpoint_step(tf.train.latest_checkpoint(str(tmp_path / "backup"))) == 6
    assert all_finite(checkpoint_values(last_good)) and all_finite(checkpoint_values(tf.train.latest_checkpoint(str(tmp_path / "backup"))))
    assert not (tmp_path / "metrics.json").exists()
