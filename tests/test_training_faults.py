"""Fault tolerance of train.py: SIGTERM saves and exits 0, NaN exits 3 (SIGKILL then resume: test_training_loop)."""
import signal
import subprocess

import pytest
import tensorflow as tf

from training_helpers import SMALL, all_finite, checkpoint_step, checkpoint_values, env, fault_cmd, start_train, wait_for_checkpoint

# 2 epochs of 6 steps of a small B0, a backup every 2 steps: the first backup lands mid-epoch 1.
RUN = [*SMALL, "--epochs", "2", "--steps-per-epoch", "6", "--backup-every-steps", "2"]


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
def test_nan_inside_a_loop_exits_3_and_keeps_the_checkpoints_from_before_that_loop(tmp_path):
    # 2 steps per loop: epoch 2's loops are steps 7-8 (backed up at 8), 9-10 and 11-12. The images of
    # epoch 2 (training build 2) turn NaN from its 4th batch: step 10, the second step of a loop.
    result = subprocess.run(fault_cmd(tmp_path, *RUN, "--steps-per-loop", "2", nan_at="2:3"), capture_output=True,
                            text=True, timeout=240, env=env())
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Training diverged: loss nan at step 10" in result.stdout
    last_good = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    backup = tf.train.latest_checkpoint(str(tmp_path / "backup"))
    assert (checkpoint_step(last_good), checkpoint_step(backup)) == (6, 8)  # the loop's own backup (10) is not written
    assert all_finite(checkpoint_values(last_good)) and all_finite(checkpoint_values(backup))
    assert not (tmp_path / "metrics.json").exists()
