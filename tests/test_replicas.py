"""Replicas under MirroredStrategy on 2 logical CPUs (measured by tests/replica_probe.py in a process
of its own): the loss scale agrees after an overflow on one replica, the EMA of BN statistics is
their cross-replica mean, and dropout and stochastic-depth masks differ per replica yet repeat per seed."""
import json
import subprocess
import sys

import pytest

from training_helpers import REPO, env


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "probe.json"
    result = subprocess.run([sys.executable, "tests/replica_probe.py", str(out)], cwd=REPO, env=env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("case", ["overflow", "overflow_jit"])
def test_an_overflow_on_one_replica_skips_the_step_on_both_and_halves_the_scale_once(probe, case):
    """Replica 1's float16 gradients overflow, replica 0's do not ("overflow_jit": forward and backward
    compiled by XLA per replica). Keras alone applied inf on both replicas and kept the scale."""
    run = probe[case]
    assert run["first_loss_finite"]  # only the scaled gradients overflowed
    assert run["unchanged_by_overflow"] and run["finite_after_overflow"]
    assert run["scale_after_overflow"] == [16384.0, 16384.0]  # 32768 halved once, on both
    assert run["iterations_after_overflow"] == [0, 0]  # the step was skipped
    assert run["second_bad_step"] == -1 and run["trained_after"]
    assert run["replicas_equal_after"] and run["finite_after_next"]
    assert run["scale_after_next"] == [16384.0, 16384.0]


def test_ema_of_bn_statistics_is_their_cross_replica_mean_after_the_sync(probe):
    """Moving means 0 and 50 (momentum 0.5 over pixels 0 and 100). The first EMA update has decay
    min(0.9999, 2/11), so each replica's shadow is 9/11 of its own mean, and the sync averages them."""
    ema = probe["ema"]
    assert ema["moving_means"] == [[0.0] * 3, [50.0] * 3]
    assert ema["shadows_before_sync"][0] == [0.0] * 3
    assert ema["shadows_before_sync"][1] == pytest.approx([50 * 9 / 11] * 3, rel=1e-6)
    for replica in ema["shadows_after_sync"]:
        assert replica == pytest.approx([25 * 9 / 11] * 3, rel=1e-6)
    assert ema["ema_updates"] == [1, 1]


@pytest.mark.parametrize("layer, units", [("dropout", 8 * 16), ("depth", 8)])
def test_masks_differ_across_replicas_and_repeat_with_the_seed(probe, layer, units):
    seven, seven_again, eight = ([step[layer] for step in run] for run in probe["masks"])
    assert seven == seven_again  # same seed, same masks, replica by replica and step by step
    for step in seven:
        replica0, replica1 = step
        assert replica0 != replica1
        flat = replica0 if layer == "depth" else sum(replica0, [])
        assert len(flat) == units and set(flat) <= {0.0, 2.0} and 0 < flat.count(2.0) < units
    assert seven[0] != seven[1]  # and from step to step
    assert eight != seven
