"""The N-step loop and exact resume, on deterministic CPU runs of train.py (op determinism, fixed seed)."""
import re
import signal
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from training_helpers import (SMALL, checkpoint_step, checkpoint_values, env, fault_cmd, read_json, read_tap,
                              start_train, wait_for_checkpoint)

DETERMINISTIC = {"TF_DETERMINISTIC_OPS": "1"}
# 2 epochs of 8 steps of a small B0 (batch 16: 128 of digits' 1,437 training images per epoch).
RUN = [*SMALL, "--epochs", "2", "--steps-per-epoch", "8", "--deterministic"]


def _run(model_dir, *args, tap_file=None):
    result = subprocess.run(fault_cmd(model_dir, *RUN, *args, tap_file=tap_file), capture_output=True, text=True,
                            timeout=300, env=env(**DETERMINISTIC))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _progress(out):
    """The step counts the Keras progress bar showed, in order ("\x1b[1m4/8\x1b[0m" -> 4)."""
    return [int(n) for n in re.findall(r"\x1b\[1m\s*(\d+)/8\x1b", out)]


def _final_weights(model_dir):
    """Every value in the last epoch-end checkpoint but save_counter, which counts saves."""
    values = checkpoint_values(tf.train.latest_checkpoint(str(model_dir / "checkpoints")))
    return {k: v for k, v in values.items() if not k.startswith("save_counter/")}


def _assert_same_weights(a, b):
    assert a.keys() == b.keys() and len(a) > 100
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One step per host call, never stopped: the reference both tests compare with."""
    model_dir = tmp_path_factory.mktemp("uninterrupted")
    out = _run(model_dir, "--steps-per-loop", "1", tap_file=model_dir / "tap.txt")
    return model_dir, out


@pytest.mark.slow
def test_four_steps_per_loop_end_with_the_same_weights_in_a_quarter_of_the_calls(uninterrupted, tmp_path):
    one_dir, one_out = uninterrupted
    four_out = _run(tmp_path, "--steps-per-loop", "4")
    assert "steps_per_loop=4" in four_out and "steps_per_loop=1" in one_out
    one, four = read_json(one_dir / "metrics.json"), read_json(tmp_path / "metrics.json")
    assert (one["steps"], one["train_calls"]) == (16, 16) and (four["steps"], four["train_calls"]) == (16, 4)
    _assert_same_weights(_final_weights(one_dir), _final_weights(tmp_path))
    assert four["top1"] == pytest.approx(one["top1"]) and four["loss"] == pytest.approx(one["loss"], rel=1e-4)
    # The progress bar moves once per loop: to 4/8 and 8/8 in each epoch (per step with one; Keras
    # throttles what it draws, so not every step shows there).
    assert _progress(four_out) == [4, 8, 4, 8] and set(_progress(one_out)) - {4, 8}


@pytest.mark.slow
def test_a_killed_run_resumes_its_epoch_with_exactly_the_batches_it_had_not_seen(uninterrupted, tmp_path):
    reference = read_tap(uninterrupted[0] / "tap.txt")  # build 1 is epoch 1, build 2 epoch 2
    tap = tmp_path / "tap.txt"
    proc = start_train(tmp_path, cmd=fault_cmd(tmp_path, *RUN, "--steps-per-loop", "1", "--backup-every-steps", "3",
                                               tap_file=tap), **DETERMINISTIC)
    wait_for_checkpoint(tmp_path / "backup", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = checkpoint_step(tf.train.latest_checkpoint(str(tmp_path / "backup")))
    assert 3 <= killed_at < 8, "the kill must land mid-epoch 1"
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) is None
    first = read_tap(tap)
    tap.rename(tmp_path / "tap-first.txt")

    out = _run(tmp_path, "--steps-per-loop", "1", "--backup-every-steps", "3", tap_file=tap)
    assert f"Resumed from {tmp_path / 'backup'}/ckpt-{killed_at} at step {killed_at} (epoch 1, {killed_at} of its 8 steps done)" in out
    assert (read_json(tmp_path / "metrics.json")["epochs"], read_json(tmp_path / "metrics.json")["steps"]) == (2, 16)
    assert [line.split(",")[:2] for line in (tmp_path / "history.csv").read_text().splitlines()[1:]] == [["1", "8"], ["2", "16"]]
    assert not (tmp_path / "backup").exists()
    second = read_tap(tap)
    seen = first[1][:killed_at] + second[1][:8 - killed_at]  # what epoch 1 trained on, over both processes
    images = [d for batch in seen for d in batch]
    assert len(images) == 8 * 16 == len(set(images)), "an example seen twice in the epoch"
    assert seen == reference[1][:8], "epoch 1 is not the uninterrupted run's epoch 1, batch for batch"
    assert second[2][:8] == reference[2][:8], "epoch 2 differs from the uninterrupted run's"
    assert set(images).isdisjoint(d for batch in second[1][8 - killed_at:8] for d in batch)
    _assert_same_weights(_final_weights(uninterrupted[0]), _final_weights(tmp_path))
