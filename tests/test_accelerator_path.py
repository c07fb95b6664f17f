"""train.py on the accelerator's structure: MirroredStrategy over 2 logical CPUs (as over 2 GPUs) in
float16 and bfloat16 mixed precision, with XLA asked for (compiling each replica's forward and
backward pass) and left to ``auto``; each run trains, evaluates and exports."""
import math

import keras
import numpy as np
import pytest

import efficientnet_tf  # noqa: F401 (registers the custom layers model.keras holds)

from training_helpers import SMALL, read_json, run_train


@pytest.mark.slow
@pytest.mark.parametrize("jit, mode", [("on", "grads"), ("auto", "off")])
@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_two_replicas_train_evaluate_and_export(tmp_path, jit, mode, precision):
    result = run_train(tmp_path, *SMALL, "--strategy", "mirrored", "--cpu-devices", "2", "--epochs", "1",
                       "--steps-per-epoch", "2", "--jit-compile", jit, "--precision", precision, "--export",
                       timeout=420)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"replicas=2 precision={precision} jit_compile={mode} " in result.stdout
    metrics = read_json(tmp_path / "metrics.json")
    assert (metrics["replicas"], metrics["steps"], metrics["precision"]) == (2, 2, precision)
    assert metrics["examples"] == 32 and math.isfinite(metrics["loss"])
    assert (tmp_path / "saved_model" / "saved_model.pb").is_file()
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    probs = model.predict(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32"), verbose=0)
    assert probs.shape == (2, 10) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-3)
