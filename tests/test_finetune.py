"""unfreeze(): whole blocks from the top made trainable, BatchNormalization frozen unless asked."""
import keras
import pytest

import efficientnet_tf as et


@pytest.fixture(scope="module")
def base():
    return et.EfficientNetB0(include_top=False, pooling="avg", input_shape=(32, 32, 3))


def _trainable(model):
    return {l.name for l in model.layers if l.trainable and l.weights}


def test_unfreeze_from_a_block_name(base):
    unfrozen = et.unfreeze(base, from_block="block6a")
    names = [l.name for l in base.layers]
    start = names.index("block6a_expand_conv")
    for layer in base.layers[:start]:
        assert not layer.trainable, layer.name
    assert set(unfrozen) == _trainable(base)
    assert {"block6a_expand_conv", "block6a_dwconv", "block6a_se_reduce", "block7a_project_conv", "top_conv"} <= set(unfrozen)
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in base.layers if l.trainable)
    # 5 blocks (block6a-d, block7a) x (expand, dwconv, se_reduce, se_expand, project), then top_conv
    assert len(unfrozen) == 5 * 5 + 1
    weights = {w.path.split("/")[0] for w in base.trainable_weights}
    assert weights == set(unfrozen)


def test_unfreeze_counts_blocks_and_stages_and_trains_bn_when_asked(base):
    assert et.unfreeze(base, from_block=1)[0] == "block7a_expand_conv"
    assert et.unfreeze(base, from_block=2)[0] == "block6d_expand_conv"
    assert et.unfreeze(base, from_block="block6")[0] == "block6a_expand_conv"
    unfrozen = et.unfreeze(base, from_block="block7a", train_bn=True)
    assert unfrozen[:2] == ["block7a_expand_conv", "block7a_expand_bn"] and "top_bn" in unfrozen
    assert len(et.block_names(base)) == 16 and et.block_names(base)[:3] == ["block1a", "block2a", "block2b"]


def test_unfreeze_reaches_a_nested_backbone(base):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(5, name="head")(base(inputs, training=False)))
    base.trainable = False
    unfrozen = et.unfreeze(model, from_block="block7a")
    assert unfrozen[0] == "block7a_expand_conv" and unfrozen[-1] == "head"
    paths = {w.path.split("/")[0] for w in model.trainable_weights}
    assert paths == set(unfrozen) and "stem_conv" not in paths
    p = et.profile(model)  # a classifier around the backbone: counts, and no stage record of its own
    assert p.features == () and p.trainable_params == sum(int(w.numpy().size) for w in model.trainable_weights)


@pytest.mark.parametrize("bad, error", [("block9a", ValueError), (0, ValueError), (17, ValueError), (True, TypeError)])
def test_unfreeze_rejects_unknown_blocks(base, bad, error):
    with pytest.raises(error, match="block|from_block"):
        et.unfreeze(base, from_block=bad)
    with pytest.raises(ValueError, match="no EfficientNet blocks"):
        et.unfreeze(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
