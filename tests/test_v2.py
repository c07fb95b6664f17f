"""EfficientNetV2 against keras.applications' EfficientNetV2 (counts, names, logits, h5 files), against
google/automl's block strings and checkpoint names (spelled in checkpoint_helpers), and the paper's Table 7."""
import re

import keras
import numpy as np
import pytest

import efficientnet_tf as et
from checkpoint_helpers import (
    assign_by_position, automl_v2_names, block_expands, official_checkpoint, relative_diff,
)
from efficientnet_tf.models import v2_family
from efficientnet_tf.weights.checkpoint import load_checkpoint
from model_helpers import assert_logits_close, copy_weights, randomize, random_images, write_official_h5

FAST = ("b0", "b1", "b2", "b3", "s")
CASES = [v if v in FAST else pytest.param(v, marks=pytest.mark.slow) for v in ("b0", "b1", "b2", "b3", "s", "m", "l")]


def _keras_v2(variant, **kwargs):
    return getattr(keras.applications, f"EfficientNetV2{variant.upper()}")(weights=None, **kwargs)


def _ours(variant, **kwargs):
    return getattr(et, f"EfficientNetV2{variant.upper()}")(**kwargs)


@pytest.mark.parametrize("variant", CASES)
def test_counts_names_and_logits_match_keras_applications(variant):
    size = 224 if variant == "b0" else 64
    x = random_images(2, size, seed=1)
    for include_top in (True, False):
        kw = dict(include_top=include_top, input_shape=(size, size, 3), classifier_activation=None, classes=7)
        ref, ours = _keras_v2(variant, **kw), _ours(variant, **kw)
        assert ours.count_params() == ref.count_params()
        # keras' Rescaling/Normalization are our one "normalization" layer; keras numbers their names per session.
        assert [l.name for l in ours.layers][2:] == [
            l.name for l in ref.layers[1:] if not l.name.startswith(("rescaling", "normalization"))]
        randomize(ref, seed=2)
        copy_weights(ref, ours)
        assert_logits_close(ours(x, training=False), ref(x, training=False))
    assert _ours(variant).count_params() == _keras_v2(variant).count_params()


def _automl_params(strings, head=1280, classes=1000):
    """Parameters of an automl EfficientNetV2 (width and depth 1), counted from effnetv2_model.py's layers:
    convs without bias, BN 4 per channel, SE convs with bias, a dense head with bias."""
    bn = 4
    stages = [dict(re.findall(r"([a-z]+)([\d.]+)", s.replace("_", " "))) for s in strings]
    c = int(stages[0]["i"])
    total = 27 * c + bn * c  # 3x3 stem on RGB
    for st in stages:
        k, e, fused = int(st["k"]), int(st["e"]), st.get("c") == "1"
        for j in range(int(st["r"])):
            cin, cout = (int(st["i"]) if j == 0 else int(st["o"])), int(st["o"])
            mid = cin * e
            if e != 1:
                total += (k * k if fused else 1) * cin * mid + bn * mid
            if not fused:
                total += k * k * mid + bn * mid
            if "se" in st:
                r = max(1, int(cin * float(st["se"])))
                total += mid * r + r + r * mid + mid
            total += (1 if e != 1 else k * k) * mid * cout + bn * cout
    last = int(stages[-1]["o"])
    return total + last * head + bn * head + head * classes + classes


@pytest.mark.slow
def test_v2_xl_is_the_reference_architecture():
    """XL has no keras.applications peer: its count is the reference's, counted independently from
    automl's strings (the count is first checked on S against keras), and the paper's 208M."""
    assert _automl_params(v2_family.S_BLOCKS) == _keras_v2("s").count_params()
    xl = et.EfficientNetV2XL()
    assert xl.count_params() == _automl_params(v2_family.XL_BLOCKS) == 208_896_832
    assert sum(1 for l in xl.layers if l.name.endswith("_project_bn")) == 4 + 8 + 8 + 16 + 24 + 32 + 8
    assert xl.input_shape == (None, 512, 512, 3)


@pytest.mark.parametrize("variants", [["v2-s"], pytest.param(["v2-m", "v2-l"], marks=pytest.mark.slow)])
def test_summary_prints_table7_within_8_percent(variants, capsys):
    from efficientnet_tf.cli import main

    assert main(["summary", *variants]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    for name in variants:
        _, params, flops = v2_family.PAPER_TABLE7[name]
        cells = rows[name]  # model, res, params, paper params, GMACs, paper GMACs, MACs/paper
        assert cells[3] == f"{params / 1e6:.1f}M" and cells[5] == f"{flops / 1e9:.2f}B"
        assert abs(int(cells[2].replace(",", "")) / params - 1) < 0.08
        assert abs(float(cells[6]) - 1) < 0.08 and float(cells[4]) == pytest.approx(float(cells[6]) * flops / 1e9, rel=1e-3)


def test_keras_layout_v2_h5_loads_by_name(tmp_path):
    ref = _keras_v2("b0", input_shape=(64, 64, 3), classifier_activation=None)
    randomize(ref, seed=4)
    path = tmp_path / "efficientnetv2-b0.h5"
    write_official_h5(ref, path)
    ours = et.EfficientNetV2B0(input_shape=(64, 64, 3), classifier_activation=None, weights=str(path))
    x = random_images(2, 64, seed=5)
    assert_logits_close(ours(x), ref(x))


@pytest.fixture(scope="module")
def v2_b0():
    return et.EfficientNetV2B0(input_shape=(64, 64, 3), classifier_activation=None)


def test_automl_checkpoint_loads_ema_first(v2_b0, tmp_path, capsys):
    names = automl_v2_names("efficientnetv2-b0")
    raw, ema = official_checkpoint(tmp_path, v2_b0, "efficientnetv2-b0", None, names=names)
    x = random_images(2, 64, seed=6)
    outputs = {}
    for source, arrays in (("EMA", ema), ("raw", raw)):
        load_checkpoint(v2_b0, tmp_path, ema=source == "EMA")
        assert f"efficientnetv2-b0, {len(names)} variables ({source}" in capsys.readouterr().err
        loaded = np.asarray(v2_b0(x))
        assign_by_position(v2_b0, arrays)
        outputs[source] = np.asarray(v2_b0(x))
        np.testing.assert_allclose(loaded, outputs[source], rtol=1e-5, atol=1e-6 * np.abs(loaded).max())
    assert relative_diff(outputs["EMA"], outputs["raw"]) > 0.05


def test_v1_checkpoint_into_v2_is_refused(v2_b0, tmp_path):
    v1 = et.EfficientNetB0(input_shape=(64, 64, 3))
    official_checkpoint(tmp_path, v1, "efficientnet-b0", block_expands(1.0))
    before = [np.asarray(w) for w in v2_b0.weights]
    with pytest.raises(ValueError, match=r"does not fit model .*blocks_0/conv2d/kernel"):
        load_checkpoint(v2_b0, tmp_path)
    assert all(np.array_equal(a, np.asarray(w)) for a, w in zip(before, v2_b0.weights))


def test_v2_normalization_and_registry():
    s = et.EfficientNetV2S(include_top=False, input_shape=(32, 32, 3))
    out = np.asarray(s.get_layer("normalization")(np.full((1, 2, 2, 3), 200.0, "float32")))
    np.testing.assert_allclose(out, 200 / 128 - 1, rtol=1e-6)
    assert s.get_layer("normalization").count_params() == 0
    assert et.list_variants()[-8:] == ("v2-b0", "v2-b1", "v2-b2", "v2-b3", "v2-s", "v2-m", "v2-l", "v2-xl")
    assert "v2-s" not in et.list_variants(v2=False)
    for alias in ("v2-s", "efficientnetv2-s", "EfficientNetV2S", "efficientnet_v2_s"):
        assert et.get_variant(alias).name == "v2-s"
    assert (et.get_variant("v2-m").resolution, et.get_variant("v2-m").train_size) == (480, 384)
    b3 = et.EfficientNetV2B3(include_top=False, input_shape=(32, 32, 3))
    assert b3.get_layer("block2a_expand_conv").filters == 16 * 4  # automl rounding: 16 * 1.2 stays 16


def test_v2_features_and_fine_tuning(v2_b0):
    infos = et.feature_info(v2_b0)
    assert [(i.stride, i.channels) for i in infos] == [
        (2, 32), (2, 16), (4, 32), (8, 48), (16, 96), (16, 112), (32, 192), (32, 1280)]
    assert infos[1].name == "block1a_project_activation"  # the fused e1 block ends in its activation
    # "same" strided convs shift the fields as V1's explicit padding does.
    v1 = {i.stride: i.offset for i in et.feature_info(et.EfficientNetB0(include_top=False))}
    assert all(i.offset == v1[i.stride] for i in infos)
    maps = et.feature_extractor(v2_b0).outputs
    assert [tuple(m.shape) for m in maps] == [(None, 32, 32, 16), (None, 16, 16, 32), (None, 8, 8, 48),
                                              (None, 4, 4, 112), (None, 2, 2, 1280)]
    et.unfreeze(v2_b0, 2)
    trainable = {l.name.split("_")[0] for l in v2_b0.layers if l.trainable and l.weights}
    assert trainable == {"block6g", "block6h", "top", "predictions"}


def test_v2_b0_exports_to_saved_model_and_tflite(tmp_path):
    """SavedModel and float32 TFLite of V2-B0 give Keras' probabilities (strided "same" convs, fused blocks)."""
    import tensorflow as tf

    from efficientnet_tf.serving.saved_model import export_saved_model
    from efficientnet_tf.serving.tflite import TFLiteModel, convert

    model = et.EfficientNetV2B0(input_shape=(64, 64, 3), classes=5)
    randomize(model, seed=7)
    images = random_images(3, 64, seed=8)
    expected = np.asarray(model(images, training=False))
    path = export_saved_model(model, tmp_path / "saved", class_names=list("abcde"))
    served = tf.saved_model.load(path).signatures["serving_default"](tf.constant(images))
    np.testing.assert_allclose(next(iter(served.values())).numpy(), expected, atol=1e-5)
    lite = TFLiteModel(convert(path, "float32"))
    np.testing.assert_allclose(lite(images), expected, atol=1e-4)
