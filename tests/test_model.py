import keras
import numpy as np
import pytest

import efficientnet_tf as et
from efficientnet_tf.models import layers
from efficientnet_tf.models.layers import StochasticDepth
from model_helpers import (
    VARIANTS, assert_logits_close, copy_weights, keras_app, randomize, random_images, set_true_normalization,
)

# keras.applications' totals, which include Normalization's 7 non-trainable numbers.
KERAS_TOTALS = {
    "b0": (5_330_571, 4_049_571), "b1": (7_856_239, 6_575_239), "b2": (9_177_569, 7_768_569),
    "b3": (12_320_535, 10_783_535), "b4": (19_466_823, 17_673_823), "b5": (30_562_527, 28_513_527),
    "b6": (43_265_143, 40_960_143), "b7": (66_658_687, 64_097_687),
}
PAPER_MACS = {"b0": 0.39e9, "b1": 0.70e9, "b2": 1.0e9, "b3": 1.8e9, "b4": 4.2e9, "b5": 9.9e9, "b6": 19e9, "b7": 37e9}


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameter_counts_and_macs(variant):
    top = et.create_model(variant)
    p = et.profile(top)
    assert p.params == KERAS_TOTALS[variant][0]
    assert p.input_shape == (et.get_variant(variant).resolution,) * 2 + (3,)
    assert abs(p.macs / PAPER_MACS[variant] - 1) < 0.08, p.macs
    assert et.create_model(variant, include_top=False).count_params() == KERAS_TOTALS[variant][1]


def test_b0_trainable_count_matches_keras():
    p = et.profile(et.EfficientNetB0())
    assert p.trainable_params == 5_288_548
    # The paper's Table 1: the stem, stages 2-8 and the head, at 224 px inputs of 112 ... 7 px.
    assert [(f.stride, f.channels) for f in p.features] == [
        (2, 32), (2, 16), (4, 24), (8, 40), (16, 80), (16, 112), (32, 192), (32, 320), (32, 1280)]


@pytest.mark.parametrize("variant", [v if v < "b4" else pytest.param(v, marks=pytest.mark.slow) for v in VARIANTS])
def test_logits_match_keras_applications(variant):
    size = 224 if variant == "b0" else 64
    x = random_images(2, size, seed=1)
    for include_top in (True, False):
        kw = dict(include_top=include_top, input_shape=(size, size, 3), classifier_activation=None, classes=7)
        ref = keras_app(variant, weights=None, **kw)
        set_true_normalization(ref)
        randomize(ref, seed=2)
        ours = et.create_model(variant, **kw)
        copy_weights(ref, ours)
        assert_logits_close(ours(x, training=False), ref(x, training=False))


def test_layer_names_match_keras_applications():
    ours = [l.name for l in et.EfficientNetB0().layers]
    ref = [l.name for l in keras_app("b0", weights=None).layers]
    # keras.applications' Rescaling is folded into our normalization layer; Keras numbers the
    # names of its auto-named preprocessing layers per session.
    assert ours[1] == "normalization"
    assert ours[2:] == [n for n in ref[1:] if not n.startswith(("rescaling", "normalization"))]
    for name in ("stem_conv", "block1a_dwconv", "block2a_dwconv_pad", "block2b_se_reduce", "block2b_drop",
                 "block2b_add", "top_conv", "top_bn", "avg_pool", "top_dropout", "predictions"):
        assert name in ours


def test_stochastic_depth_rate_grows_linearly_with_block_index():
    model = et.EfficientNetB0(drop_connect_rate=0.2)
    rates = {l.name: l.rate for l in model.layers if isinstance(l, StochasticDepth)}
    # 16 blocks in B0: block2b is block index 2, block7a's predecessor block6d is index 14.
    assert rates["block2b_drop"] == pytest.approx(0.2 * 2 / 16)
    assert rates["block6d_drop"] == pytest.approx(0.2 * 14 / 16)
    assert len(rates) == 9  # blocks with an identity skip


def test_block_internals_follow_the_reference():
    model = et.EfficientNetB0()
    bn = model.get_layer("block3a_expand_bn")
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-3)
    # SE width is relative to the block's input filters: block2a has 16 in, expands to 96.
    assert model.get_layer("block2a_se_reduce").filters == 4
    assert model.get_layer("block2a_se_expand").filters == 96
    assert model.get_layer("block4a_dwconv").kernel_size == (3, 3)
    assert model.get_layer("block5a_dwconv").kernel_size == (5, 5)


def test_rounding_rules():
    assert et.round_filters(32, 1.1) == 32  # 35.2 -> 32 loses < 10%
    assert et.round_filters(1280, 1.8) == 2304
    assert et.round_filters(16, 2.0) == 32
    assert et.round_filters(3, 1.0) == 8  # never below the divisor
    assert et.round_filters(20, 1.0) == 24  # 20 + 4 rounds up to 24
    assert et.round_repeats(3, 3.1) == 10 and et.round_repeats(1, 1.1) == 2


def test_blocks_args_accepts_strings_and_block_args():
    strings = ["r1_k3_s11_e1_i32_o16_se0.25", "r1_k3_s22_e6_i16_o24_se0.25"]
    a = et.EfficientNet(1.0, 1.0, 64, blocks_args=strings, include_top=False)
    b = et.EfficientNet(1.0, 1.0, 64, blocks_args=[et.decode(s) for s in strings], include_top=False)
    assert a.count_params() == b.count_params()
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    with pytest.raises(ValueError, match="bad token"):
        et.EfficientNet(1.0, 1.0, 64, blocks_args=["r1_k3_s11_q1_i32_o16"])


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_forward_pass(policy):
    keras.mixed_precision.set_global_policy(policy)
    model = et.EfficientNetB0(input_shape=(64, 64, 3), classes=5)
    assert model.get_layer("stem_conv").compute_dtype == policy.split("_")[1]
    out = model(random_images(2, 64), training=False)
    assert out.dtype == "float32"
    out = np.asarray(out)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_preprocessing_is_the_true_imagenet_normalization():
    model = et.EfficientNetB0(input_shape=(32, 32, 3))
    norm = model.get_layer("normalization")
    x = np.full((1, 2, 2, 3), 255.0, "float32")
    expected = (1.0 - np.array(layers.IMAGENET_MEAN_RGB)) / np.array(layers.IMAGENET_STD_RGB)
    np.testing.assert_allclose(np.asarray(norm(x))[0, 0, 0], expected, rtol=1e-6)


def test_custom_sizes_and_bad_shapes():
    model = et.EfficientNetB0(include_top=False, input_shape=(64, 64, 3))
    assert model.output_shape == (None, 2, 2, 1280)
    with pytest.raises(ValueError, match="at least 32"):
        et.EfficientNetB0(include_top=False, input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match="channel count >= 1"):
        et.EfficientNetB0(include_top=False, input_shape=(64, 64, 0))
    with pytest.raises(ValueError, match="\\(height, width, channels\\)"):
        et.EfficientNetB0(include_top=False, input_shape=(64, 64))
    with pytest.raises(ValueError, match="pooling"):
        et.EfficientNetB0(include_top=False, pooling="mean")


@pytest.mark.parametrize("pooling, shape", [(None, (None, None, None, 1280)), ("avg", (None, 1280)), ("max", (None, 1280))])
def test_pooling(pooling, shape):
    model = et.EfficientNetB0(include_top=False, pooling=pooling)
    assert model.output_shape == shape


def test_input_tensor():
    inp = keras.Input((48, 48, 3))
    model = et.EfficientNetB0(input_tensor=inp, classes=3)
    assert model.inputs[0] is inp and model.output_shape == (None, 3)


def test_feature_extractor_endpoints():
    model = et.EfficientNetB0(include_top=False, input_shape=(64, 64, 3))
    feats = et.feature_extractor(model)
    out = feats(random_images(1, 64))
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {
        "reduction_1": (1, 32, 32, 16), "reduction_2": (1, 16, 16, 24), "reduction_3": (1, 8, 8, 40),
        "reduction_4": (1, 4, 4, 112), "reduction_5": (1, 2, 2, 1280),
    }
    with pytest.raises(ValueError, match="no 'stem_conv' layer"):
        et.feature_extractor(keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)]))


# B0's stage endpoints (Table 1): the last block at each stride, and top_activation at 32.
B0_LEVELS = {"reduction_1": (2, 16), "reduction_2": (4, 24), "reduction_3": (8, 40), "reduction_4": (16, 112),
             "reduction_5": (32, 1280)}


def test_feature_extractor_on_the_dynamic_size_headless_model():
    feats = et.feature_extractor(et.EfficientNetB0(include_top=False))  # input (None, None, 3)
    assert {k: (i.stride, i.channels) for k, i in feats.feature_info.items()} == B0_LEVELS
    for size in (224, 257, 33, 45, 46, 65, 67):  # 33-45 and 65-67 failed when strides were guessed
        out = feats(random_images(1, size), training=False)
        # A dynamic size pads every stride-2 layer as an even one (keras' correct_pad): floor(n / 2) per step.
        expected = {k: (1, size // stride, size // stride, ch) for k, (stride, ch) in B0_LEVELS.items()}
        assert {k: tuple(v.shape) for k, v in out.items()} == expected, size


@pytest.mark.slow
def test_feature_extractor_at_static_sizes_33_to_67():
    for size in range(33, 68):
        feats = et.feature_extractor(et.EfficientNetB0(include_top=False, input_shape=(size, size, 3)))
        got = {k: tuple(t.shape[1:]) for k, t in zip(feats.output.keys(), feats.outputs)}
        # A static size pads as TF's "same": ceil(n / 2) per stride-2 step.
        expected = {k: (-(-size // s), -(-size // s), ch) for k, (s, ch) in B0_LEVELS.items()}
        assert got == expected, size


def test_keras_file_round_trip_safe_mode(tmp_path):
    model = et.EfficientNetB0(input_shape=(48, 48, 3), classes=4)
    randomize(model, seed=3)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = random_images(2, 48)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not any(isinstance(l, keras.layers.Lambda) for l in loaded.layers)
    assert type(loaded.get_layer("normalization")).__name__ == "ImageNormalization"
    assert et.feature_info(loaded) == et.feature_info(model)
    assert [(i.name, i.stride, i.channels) for i in et.feature_info(loaded)][-3:] == [
        ("block6d_add", 32, 192), ("block7a_project_bn", 32, 320), ("top_activation", 32, 1280)]


def test_stochastic_depth_drops_whole_examples():
    layer = StochasticDepth(0.25, seed=1)
    x = np.ones((4000, 2, 2, 3), "float32")
    y = np.asarray(layer(x, training=True))
    per_example = y.reshape(4000, -1)
    assert (np.ptp(per_example, axis=1) == 0).all()  # all or nothing per example
    assert abs((per_example[:, 0] == 0).mean() - 0.25) < 0.03
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    with pytest.raises(ValueError):
        StochasticDepth(1.0)


def test_registry():
    assert et.list_variants(lite=False, v2=False) == ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "l2")
    assert et.get_variant("EfficientNetB3") == et.get_variant("efficientnet-b3") == et.get_variant("b3")
    assert et.get_variant("b7").resolution == 600 and et.get_variant("l2").width == 4.3
    with pytest.raises(ValueError, match="unknown EfficientNet variant"):
        et.get_variant("b9")
    assert et.create_model("b1", include_top=False).name == "efficientnetb1"


def test_summary_cli(capsys, tmp_path):
    from PIL import Image

    from efficientnet_tf.cli import main

    assert main(["summary", "b0", "b1", "--plot", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "5,330,571" in out and "0.386" in out and "0.39B" in out and "7,856,239" in out
    assert Image.open(tmp_path / "s.png").size == (600, 450)
