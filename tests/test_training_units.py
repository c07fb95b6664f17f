"""Training library pieces in-process: schedule values, config precedence, L2 scope, RMSpropTF, EMA."""
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import efficientnet_tf
from efficientnet_tf.cli import train as cli
from efficientnet_tf.preprocessing import CropPolicy
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training import build
from efficientnet_tf.training.ema import ExponentialMovingAverage
from efficientnet_tf.training.optimizer import RMSpropTF, batch_norm_variables, build_optimizer, l2_loss, l2_variables
from efficientnet_tf.training.schedule import WarmupDecay
from efficientnet_tf.training import strategy as strategy_lib
from efficientnet_tf.training.strategy import resolve_jit, resolve_precision, resolve_steps_per_loop
from efficientnet_tf.training.trainer import Trainer


def test_exponential_schedule_values_at_warmup_end_and_decay_steps():
    # 100 steps/epoch: warmup ends at step 500, decay boundaries every 240 steps counted from step 0.
    s = WarmupDecay(0.256, steps_per_epoch=100, warmup_epochs=5, decay_rate=0.97, decay_epochs=2.4)
    expected = {0: 0.0, 250: 0.128, 499: 0.256 * 499 / 500, 500: 0.256 * 0.97 ** 2, 719: 0.256 * 0.97 ** 2,
                720: 0.256 * 0.97 ** 3, 2400: 0.256 * 0.97 ** 10}
    for step, lr in expected.items():
        assert float(s(step)) == pytest.approx(lr, rel=1e-6), step


def test_cosine_schedule_and_serialization():
    s = WarmupDecay(0.1, steps_per_epoch=10, warmup_epochs=1, decay="cosine", total_epochs=11)
    assert float(s(5)) == pytest.approx(0.05)
    assert float(s(55)) == pytest.approx(0.05 * (1 + np.cos(np.pi * 0.5)))
    assert float(s(110)) == pytest.approx(0.0, abs=1e-9)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert isinstance(restored, WarmupDecay) and restored.get_config() == s.get_config()


def test_reference_recipe_defaults_and_digits_preset():
    imagenet = cli.parse(["--dataset", "tfrecord:/data/imagenet"])[0]
    assert (imagenet.batch_size, imagenet.epochs, imagenet.data.holdout_shards) == (4096, 350, 20)
    opt = imagenet.optimizer
    assert (opt.base_lr, opt.rho, opt.momentum, opt.epsilon) == (0.016, 0.9, 0.9, 1e-3)
    assert (opt.warmup_epochs, opt.decay_rate, opt.decay_epochs, opt.schedule) == (5, 0.97, 2.4, "exponential")
    assert (opt.weight_decay, opt.label_smoothing, opt.ema_decay, imagenet.model.survival_prob) == (1e-5, 0.1, 0.9999, 0.8)
    assert imagenet.model.image_size == 224 and imagenet.model_dir == "runs/b0-imagenet"
    digits = cli.parse([])[0]
    assert (digits.data.dataset, digits.model.image_size, digits.batch_size, digits.model_dir) == ("digits", 32, 64, "runs/b0-digits")
    assert (digits.optimizer.schedule, digits.optimizer.base_lr * 64 / 256, digits.data.deterministic) == ("cosine", 0.00075, True)
    path_error = "optimizer.'learning_rate'"
    with pytest.raises(ValueError, match=path_error):
        config_lib.from_dict({"optimizer": {"learning_rate": 1}})


def test_steps_per_loop_auto_is_one_on_cpu_and_up_to_100_on_accelerators(monkeypatch):
    strategy = tf.distribute.get_strategy()
    assert [resolve_steps_per_loop("auto", strategy, spe) for spe in (5, 500)] == [1, 1]
    assert [resolve_steps_per_loop("7", strategy, spe) for spe in (5, 500)] == [5, 7]  # never across an epoch end
    monkeypatch.setattr(strategy_lib, "_device_kind", lambda s: "gpu")
    assert [resolve_steps_per_loop("auto", strategy, spe) for spe in (5, 500)] == [5, 100]


def test_auto_precision_and_jit_on_cpu():
    strategy = tf.distribute.get_strategy()
    assert resolve_precision("auto", strategy) == "float32"
    assert resolve_precision("mixed_bfloat16", strategy) == "mixed_bfloat16"
    assert resolve_jit("auto", strategy) == "off" and resolve_jit("on", strategy) == "step"


@pytest.mark.parametrize("kind, replicas, asked, mode", [
    ("gpu", 1, "auto", "step"), ("gpu", 2, "auto", "grads"), ("gpu", 2, "on", "grads"), ("gpu", 2, "off", "off"),
    ("cpu", 2, "on", "grads"), ("cpu", 1, "auto", "off"), ("tpu", 8, "on", "off"), ("tpu", 8, "auto", "off")])
def test_jit_compiles_one_device_functions_only(monkeypatch, kind, replicas, asked, mode):
    """XLA never wraps strategy.run: the whole step for one replica, forward and backward for several;
    nothing on TPU, which compiles the whole loop itself."""
    monkeypatch.setattr(strategy_lib, "_device_kind", lambda s: kind)
    strategy = types.SimpleNamespace(num_replicas_in_sync=replicas)
    assert resolve_jit(asked, strategy) == mode


@pytest.fixture(scope="module")
def tiny_b0():
    return efficientnet_tf.create_model("b0", weights=None, input_shape=(32, 32, 3), classes=10)


def test_l2_covers_non_bn_weights_only(tiny_b0):
    decayed = l2_variables(tiny_b0)
    bn = batch_norm_variables(tiny_b0)
    assert len(bn) == 49 * 4 and all(v.path.split("/")[0].endswith("bn") for v in bn)
    assert {id(v) for v in decayed}.isdisjoint(id(v) for v in bn)
    assert {v.path for v in decayed} == {v.path for v in tiny_b0.trainable_variables if not v.path.split("/")[0].endswith("bn")}
    assert any("se_reduce/bias" in v.path for v in decayed) and any("predictions/kernel" in v.path for v in decayed)
    with tf.GradientTape() as tape:
        loss = l2_loss(decayed, 1e-5)
    assert float(loss) == pytest.approx(1e-5 * sum(float(np.sum(np.square(v))) for v in decayed) / 2, rel=1e-5)
    grads = tape.gradient(loss, decayed)
    for g, v in zip(grads[:5], decayed[:5]):
        np.testing.assert_allclose(g, 1e-5 * np.asarray(v), rtol=1e-6)


def test_rmsprop_tf_starts_mean_square_at_one():
    # TF1 RMSPropOptimizer: ms = 1 at start; ms = rho*ms + (1-rho)*g^2; mom = m*mom + lr*g/sqrt(ms+eps).
    lr, g = 0.01, np.array([0.5, -0.01], np.float32)
    var = keras.Variable(np.zeros(2, np.float32))
    opt = RMSpropTF(learning_rate=lr, rho=0.9, momentum=0.9, epsilon=1e-3)
    opt.apply([tf.constant(g)], [var])
    ms = 0.9 + 0.1 * g ** 2
    np.testing.assert_allclose(var.numpy(), -lr * g / np.sqrt(ms + 1e-3), rtol=1e-5)
    # Keras' zero start: the first update is ~3x sign(g) * lr regardless of |g|.
    plain = keras.Variable(np.zeros(2, np.float32))
    keras.optimizers.RMSprop(lr, rho=0.9, momentum=0.9, epsilon=1e-3).apply([tf.constant(g)], [plain])
    assert abs(float(plain[0])) > 2.5 * lr and abs(float(plain[1])) > 0.2 * lr
    assert isinstance(build_optimizer(config_lib.OptimizerConfig(), 0.1, "mixed_float16"), keras.optimizers.LossScaleOptimizer)


def test_ema_averages_weights_and_bn_statistics_and_swaps(tiny_b0):
    ema = ExponentialMovingAverage(tiny_b0, decay=0.9999)
    paths = [v.path for v in tiny_b0.trainable_variables] + [v.path for v in batch_norm_variables(tiny_b0) if not v.trainable]
    assert len(ema.variables) == len(paths) and any("moving_variance" in p for p in paths)
    kernel, moving = ema.variables[0], next(v for v in ema.variables if "moving_mean" in v.name)
    k0, m0 = kernel.numpy(), moving.numpy()
    kernel.assign(k0 + 1.0)
    moving.assign(m0 + 2.0)
    ema.update()  # first update: decay = min(0.9999, 2/11)
    d = 2.0 / 11.0
    np.testing.assert_allclose(ema.shadows[0].numpy(), k0 + (1 - d) * 1.0, rtol=1e-5)
    with ema.swapped():
        np.testing.assert_allclose(moving.numpy(), m0 + (1 - d) * 2.0, rtol=1e-5)
    np.testing.assert_allclose(kernel.numpy(), k0 + 1.0)
    np.testing.assert_allclose(moving.numpy(), m0 + 2.0)


def test_trainer_takes_only_a_resolved_config():
    cfg = config_lib.TrainConfig()
    assert not config_lib.is_resolved(cfg)
    with pytest.raises(ValueError, match="Trainer takes a resolved config"):
        Trainer(cfg)
    resolved = config_lib.resolve(cfg)
    assert config_lib.is_resolved(resolved) and resolved.model.image_size == 224 and resolved.model_dir == "runs/b0-digits"
    resolved.data.augment = "randaugment"  # resolve would now fill its magnitude
    assert not config_lib.is_resolved(resolved)


def test_model_and_export_get_their_own_policy_and_leave_the_global_one(tmp_path):
    """build_model and export_run set no process-wide dtype policy: each model gets the one asked for."""
    cfg = config_lib.resolve(config_lib.TrainConfig(model=config_lib.ModelConfig(
        width=0.25, depth=0.2, image_size=32, dropout_rate=0.0), model_dir=str(tmp_path)))
    keras.utils.set_random_seed(0)
    model = build.build_model(cfg, 3, "mixed_bfloat16")
    assert model.dtype_policy.name == "mixed_bfloat16" and keras.mixed_precision.global_policy().name == "float32"
    info = types.SimpleNamespace(num_classes=3, class_names=["a", "b", "c"], crop=CropPolicy(crop_padding=0))
    keras.mixed_precision.set_global_policy("mixed_float16")  # whatever the process runs in, export keeps it
    try:
        build.export_run(cfg, model, None, info, str(tmp_path))
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert reloaded.dtype_policy.name == "float32" and reloaded.count_params() == model.count_params()
    assert (tmp_path / "saved_model" / "assets.extra" / "crop_padding.txt").read_text() == "0\n"


@pytest.mark.parametrize("variant,builder", [("b0", efficientnet_tf.EfficientNetB0), ("lite0", efficientnet_tf.EfficientNetLite0),
                                             ("v2-b0", efficientnet_tf.EfficientNetV2B0)])
def test_the_run_builds_each_family_as_its_registered_builder_does(variant, builder):
    cfg = cli.parse(["--model", variant, "--image-size", "64"])[0]
    built = build.build_model(cfg, 10, "float32")
    expected = builder(weights=None, input_shape=(64, 64, 3), classes=10)
    assert [layer.name for layer in built.layers] == [layer.name for layer in expected.layers]
    assert built.count_params() == expected.count_params() and built.name == expected.name


def test_width_and_depth_scale_only_v1s_block_strings(capsys):
    assert cli.parse(["--model", "b0", "--width", "0.25"])[0].model.width == 0.25
    assert cli.parse(["--model", "v2-s", "--width", "1.0"])[0].model.width == 1.0  # its own: no change
    for variant in ("v2-s", "lite0"):
        with pytest.raises(SystemExit):
            cli.parse(["--model", variant, "--depth", "0.5"])
        assert (f"error: --width and --depth scale V1's block strings; {variant} is built only as registered"
                in capsys.readouterr().err)
