"""Official tensorflow/tpu checkpoints as weights: names spelled by checkpoint_helpers (the published
scheme, written out there), saved by name as TF1 did, with EMA shadows, RMSProp slots and global_step."""
import shutil

import numpy as np
import pytest
import tensorflow as tf

import efficientnet_tf as et
from checkpoint_helpers import (assign_by_position, block_expands, model_variables, official_checkpoint, official_names,
                                relative_diff, write_checkpoint)
from efficientnet_tf.weights.checkpoint import load_checkpoint
from efficientnet_tf.weights.convert import write_legacy_h5
from model_helpers import random_images

# variant -> (builder, official scope, depth coefficient, Lite, input size, head width). B2 at 97 px
# gives odd maps (49, 25, 13, 7, 4) at every stride; Lite keeps the stem (32) and head (1280) unscaled,
# so Lite4's blocks_0 runs on 32 channels, not round_filters(32) = 48.
CASES = {
    "b0": (et.EfficientNetB0, "efficientnet-b0", 1.0, False, 64, 1280),
    "b2": (et.EfficientNetB2, "efficientnet-b2", 1.2, False, 97, 1408),
    "lite0": (et.EfficientNetLite0, "efficientnet-lite0", 1.0, True, 64, 1280),
    "lite4": (et.EfficientNetLite4, "efficientnet-lite4", 1.8, True, 64, 1280),
}


@pytest.fixture(scope="module")
def b0_checkpoint(tmp_path_factory):
    """B0 at 64 px with its head: (folder, raw arrays, EMA arrays) in the model's variable order."""
    folder = tmp_path_factory.mktemp("b0_ckpt")
    raw, ema = official_checkpoint(folder, et.EfficientNetB0(input_shape=(64, 64, 3)), "efficientnet-b0",
                                   block_expands(1.0))
    return folder, raw, ema


def test_helper_spelling_matches_the_published_examples():
    """The test's own names against literal ones from the published scheme (no model involved)."""
    b0 = official_names("efficientnet-b0", block_expands(1.0))
    assert b0[:5] == ["efficientnet-b0/stem/conv2d/kernel"] + [
        f"efficientnet-b0/stem/tpu_batch_normalization/{v}" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
    block0 = [n.split("/", 2)[2] for n in b0 if n.startswith("efficientnet-b0/blocks_0/")]
    assert block0[:2] == ["depthwise_conv2d/depthwise_kernel", "tpu_batch_normalization/gamma"]
    assert block0[5:10] == ["se/conv2d/kernel", "se/conv2d/bias", "se/conv2d_1/kernel", "se/conv2d_1/bias", "conv2d/kernel"]
    assert block0[-1] == "tpu_batch_normalization_1/moving_variance"
    block1 = [n.split("/", 2)[2] for n in b0 if n.startswith("efficientnet-b0/blocks_1/")]
    assert [n for n in block1 if n.endswith(("kernel", "gamma"))] == [
        "conv2d/kernel", "tpu_batch_normalization/gamma", "depthwise_conv2d/depthwise_kernel",
        "tpu_batch_normalization_1/gamma", "se/conv2d/kernel", "se/conv2d_1/kernel", "conv2d_1/kernel",
        "tpu_batch_normalization_2/gamma"]
    assert b0[-2:] == ["efficientnet-b0/head/dense/kernel", "efficientnet-b0/head/dense/bias"]
    assert len({n.split("/")[1] for n in b0 if "/blocks_" in n}) == 16
    b1 = official_names("efficientnet-b1", block_expands(1.1))  # stage 1 spans blocks_0 and blocks_1
    assert "efficientnet-b1/blocks_1/conv2d/kernel" in b1 and "efficientnet-b1/blocks_1/conv2d_1/kernel" not in b1
    assert len({n.split("/")[1] for n in b1 if "/blocks_" in n}) == 23
    lite4 = official_names("efficientnet-lite4", block_expands(1.8, lite=True), se=False)
    assert not any("/se/" in n for n in lite4) and "efficientnet-lite4/blocks_0/conv2d/kernel" in lite4
    assert len({n.split("/")[1] for n in lite4 if "/blocks_" in n}) == 1 + 4 + 4 + 6 + 6 + 8 + 1


@pytest.mark.parametrize("variant", list(CASES))
def test_official_names_load_ema_by_default_and_raw_on_request(variant, tmp_path, capsys):
    """The loader's values equal the checkpoint's arrays assigned by position (one model, so one build)."""
    builder, scope, depth, lite, size, head = CASES[variant]
    model = builder(input_shape=(size, size, 3), classifier_activation=None)
    raw, ema = official_checkpoint(tmp_path, model, scope, block_expands(depth, lite), se=not lite)
    shapes = tf.train.load_checkpoint(str(tmp_path / "model.ckpt")).get_variable_to_shape_map()
    assert shapes[f"{scope}/head/dense/kernel"] == [head, 1000]
    assert shapes[f"{scope}/stem/conv2d/kernel"] == [3, 3, 3, 32]
    if variant == "lite4":
        assert shapes[f"{scope}/blocks_0/depthwise_conv2d/depthwise_kernel"] == [3, 3, 32, 1]
    x = random_images(2, size, seed=3)
    slots = 2 * sum(w.trainable for w in model_variables(model))  # RMSProp, RMSProp_1
    outputs = {}
    for source, arrays in (("EMA", ema), ("raw", raw)):
        load_checkpoint(model, tmp_path if source == "EMA" else tmp_path / "model.ckpt", ema=source == "EMA")
        log = capsys.readouterr().err
        assert f"{scope}, {len(arrays)} variables ({source}" in log
        assert f"1 entries outside the model scope (global_step ...), {slots} optimizer slots" in log
        loaded = np.asarray(model(x))
        assign_by_position(model, arrays)
        outputs[source] = np.asarray(model(x))
        np.testing.assert_allclose(loaded, outputs[source], rtol=1e-5, atol=1e-6 * np.abs(loaded).max())
        assert relative_diff(loaded[0], loaded[1]) > 0.01  # the output depends on the image
    assert relative_diff(outputs["EMA"], outputs["raw"]) > 0.05  # EMA and raw measurably differ


def test_advprop_checkpoint_with_advprop_scaling(b0_checkpoint):
    folder, _, ema = b0_checkpoint
    ours = et.EfficientNetB0(input_shape=(64, 64, 3), weights=str(folder), normalization="advprop",
                             classifier_activation=None)
    bare = et.EfficientNetB0(input_shape=(64, 64, 3), include_preprocessing=False, classifier_activation=None)
    assign_by_position(bare, ema)
    x = random_images(2, 64, seed=8)
    expected = np.asarray(bare((x - 127.5) / 127.5))  # eval_ckpt_main.py --advprop_preprocessing
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    imagenet = et.EfficientNetB0(input_shape=(64, 64, 3), weights=str(folder), classifier_activation=None)
    assert relative_diff(imagenet(x), expected) > 0.05


def test_headless_model_loads_from_a_checkpoint_with_a_head(b0_checkpoint, capsys):
    folder, _, ema = b0_checkpoint
    model = et.EfficientNetB0(include_top=False, weights=str(folder / "model.ckpt"))
    assert "2 head variables (include_top=False)" in capsys.readouterr().err
    variables = model_variables(model)
    assert len(variables) == len(ema) - 2
    for w, a in zip(variables, ema):
        np.testing.assert_array_equal(np.asarray(w), a)


def test_builders_take_ema_false(b0_checkpoint, capsys):
    folder, raw, _ = b0_checkpoint
    model = et.EfficientNetB0(include_top=False, weights=str(folder), ema=False)
    assert "(raw" in capsys.readouterr().err
    for w, a in zip(model_variables(model), raw):
        np.testing.assert_array_equal(np.asarray(w), a)


def test_bad_loads_raise_clearly_and_leave_the_model_untouched(b0_checkpoint, tmp_path):
    folder, _, _ = b0_checkpoint
    b1 = et.EfficientNetB1(input_shape=(64, 64, 3))
    before = [np.asarray(w).copy() for w in b1.weights]
    with pytest.raises(ValueError, match=r"efficientnet-b0.*does not fit model 'efficientnetb1'.*blocks_1/"):
        load_checkpoint(b1, folder)
    with pytest.raises(ValueError, match="does not fit"):
        et.EfficientNetB1(input_shape=(64, 64, 3), weights=str(folder))

    for part in ("data-00000-of-00001", "index"):
        broken = tmp_path / part
        shutil.copytree(folder, broken)
        target = broken / f"model.ckpt.{part}"
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
        b0 = et.EfficientNetB0(input_shape=(64, 64, 3))
        kept = [np.asarray(w).copy() for w in b0.weights]
        with pytest.raises(ValueError, match="truncated"):
            load_checkpoint(b0, broken)
        assert all(np.array_equal(np.asarray(w), k) for w, k in zip(b0.weights, kept))

    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(b1, tmp_path / "nope" / "model.ckpt")
    with pytest.raises(FileNotFoundError, match="weights not found"):
        et.EfficientNetB1(input_shape=(64, 64, 3), weights=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no single checkpoint"):
        load_checkpoint(b1, tmp_path / "empty")
    assert all(np.array_equal(np.asarray(w), b) for w, b in zip(b1.weights, before))


def test_raw_only_and_ema_only_checkpoints(tmp_path, capsys):
    probe = et.EfficientNetB0(input_shape=(64, 64, 3), include_top=False)
    raw, _ = official_checkpoint(tmp_path / "raw", probe, "efficientnet-b0", block_expands(1.0), ema=False)
    load_checkpoint(probe, tmp_path / "raw")
    assert "(raw: the checkpoint has no EMA shadows)" in capsys.readouterr().err
    np.testing.assert_array_equal(np.asarray(probe.get_layer("top_conv").kernel), raw[-5])
    _, ema = official_checkpoint(tmp_path / "ema", probe, "efficientnet-b0", block_expands(1.0), raw=False, seed=1)
    with pytest.raises(ValueError, match="it has only EMA values, use ema=True"):
        load_checkpoint(probe, tmp_path / "ema", ema=False)
    load_checkpoint(probe, tmp_path / "ema")  # as the L2 checkpoint: EMA tensors only
    np.testing.assert_array_equal(np.asarray(probe.get_layer("top_conv").kernel), ema[-5])
    # EMA shadows for some variables only: refused with ema=True, not mixed; raw on request.
    names = official_names("efficientnet-b0", block_expands(1.0), head=False)
    write_checkpoint(tmp_path / "partial", {**dict(zip(names, raw)), f"{names[0]}/ExponentialMovingAverage": ema[0]})
    with pytest.raises(ValueError, match="'efficientnet-b0/stem/tpu_batch_normalization/gamma/Expo.*pass ema=False"):
        load_checkpoint(probe, tmp_path / "partial")
    load_checkpoint(probe, tmp_path / "partial", ema=False)
    np.testing.assert_array_equal(np.asarray(probe.get_layer("stem_conv").kernel), raw[0])


def test_grayscale_transfer_is_exact(b0_checkpoint, tmp_path, capsys):
    """A 1-channel twin loaded from the same file gives, on a gray image, the 3-channel model's output
    on that image repeated over RGB: the RGB stem kernels summed (timm's adapt_input_conv)."""
    folder, _, _ = b0_checkpoint
    kwargs = dict(include_preprocessing=False, classifier_activation=None)
    rgb = et.EfficientNetB0(input_shape=(64, 64, 3), weights=str(folder), **kwargs)
    write_legacy_h5(rgb, tmp_path / "rgb.h5")
    gray = np.random.default_rng(2).uniform(-2, 2, (2, 64, 64, 1)).astype("float32")
    expected = np.asarray(rgb(np.repeat(gray, 3, axis=-1)))
    capsys.readouterr()
    for source in (str(folder), str(tmp_path / "rgb.h5")):
        twin = et.EfficientNetB0(input_shape=(64, 64, 1), weights=source, **kwargs)
        assert "adapted to 1 input channel(s), summed over R, G and B" in capsys.readouterr().err
        np.testing.assert_allclose(twin(gray), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    five = et.EfficientNetB0(input_shape=(64, 64, 5), weights=str(tmp_path / "rgb.h5"), **kwargs)
    k3, k5 = np.asarray(rgb.get_layer("stem_conv").kernel), np.asarray(five.get_layer("stem_conv").kernel)
    np.testing.assert_allclose(k5, np.concatenate([k3, k3[:, :, :2]], axis=2) * 3 / 5, rtol=1e-6)
