"""PyTorch state dicts as weights: timm's and EfficientNet-PyTorch's namings, both torch.save containers and
safetensors, written without torch (torch_format_helpers) from the official-layout arrays of
checkpoint_helpers; the expected logits come from those arrays assigned by position, not from the loader."""
import os

import numpy as np
import pytest

import efficientnet_tf as et
from checkpoint_helpers import assign_by_position, block_expands, official_checkpoint, official_names
from efficientnet_tf.weights.state_dict import load_state_dict, read_state_dict
from efficientnet_tf.weights.torch_pickle import read_torch_state_dict
from model_helpers import random_images
from torch_format_helpers import (View, torch_state_dict, write_pickle_legacy, write_pickle_zip, write_state_dict,
                                  write_torch_legacy, write_torch_zip)

SIZE = 64
LAYOUTS = {"timm": "timm", "efficientnet-pytorch": "EfficientNet-PyTorch"}


@pytest.fixture(scope="module")
def b0(tmp_path_factory):
    """(model, official names, raw arrays, EMA arrays, images, logits of the raw arrays assigned by position)."""
    model = et.EfficientNetB0(input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    expands = block_expands(1.0)
    raw, ema = official_checkpoint(tmp_path_factory.mktemp("ckpt"), model, "efficientnet-b0", expands)
    names = official_names("efficientnet-b0", expands)
    x = random_images(2, SIZE, seed=5)
    assign_by_position(model, raw)
    return model, names, raw, ema, x, np.asarray(model(x))


def _state_dict(b0, layout):
    _, names, raw, *_ = b0
    return torch_state_dict(names, raw, layout, depth=1.0)


@pytest.mark.parametrize("container", ["zip", "legacy", "safetensors"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_state_dict_gives_the_logits_of_the_same_arrays(b0, layout, container, tmp_path, capsys):
    model, _, _, ema, x, expected = b0
    tensors = _state_dict(b0, layout)
    suffix = "safetensors" if container == "safetensors" else "pth"
    path = write_state_dict(tmp_path / f"b0.{suffix}", tensors, container)
    assign_by_position(model, ema)  # other values, so that a loader assigning nothing fails
    assert not np.array_equal(np.asarray(model(x)), expected)
    load_state_dict(model, path)
    np.testing.assert_array_equal(np.asarray(model(x)), expected)
    bns = sum(k.endswith("running_var") for k in tensors)
    assert bns == 49 and len(tensors) == 311 + bns  # B0: 5 stem, 14 + 15 x 19 block, 7 head variables
    assert f"{LAYOUTS[layout]} state dict, 311 variables; ignored {bns} num_batches_tracked" in capsys.readouterr().err


def test_builders_take_a_state_dict_path_and_adapt_the_stem(b0, tmp_path, capsys):
    """A headless gray model from a .bin path: the head's tensors are left out, the RGB stem kernel summed."""
    tensors = _state_dict(b0, "timm")
    gray = et.EfficientNetB0(weights=str(write_torch_zip(tmp_path / "b0.bin", tensors)), input_shape=(SIZE, SIZE, 1),
                             include_top=False)
    log = capsys.readouterr().err
    assert "309 variables; ignored 49 num_batches_tracked, 2 head tensors (include_top=False)" in log
    assert "stem_conv: the RGB kernel adapted to 1 input channel(s), summed over R, G and B" in log
    stem_kernel = b0[2][0]  # the official stem/conv2d/kernel, (3, 3, 3, 32) as Keras keeps it
    np.testing.assert_allclose(np.asarray(gray.get_layer("stem_conv").kernel), stem_kernel.sum(2, keepdims=True),
                               rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(gray.get_layer("top_bn").moving_variance), tensors["bn2.running_var"])


def _unchanged(model):
    return [np.array(w) for w in model.weights]


@pytest.fixture(scope="module")
def b1_raw(tmp_path_factory):
    b1 = et.EfficientNetB1(input_shape=(SIZE, SIZE, 3))
    raw, _ = official_checkpoint(tmp_path_factory.mktemp("b1"), b1, "efficientnet-b1", block_expands(1.1), ema=False)
    return official_names("efficientnet-b1", block_expands(1.1)), raw


@pytest.mark.parametrize("layout, first_problem", [
    ("timm", r"state dict tensor 'blocks\.0\.1\.bn1\.bias' has no place in the model"),
    ("efficientnet-pytorch", r"'_blocks\.1\._expand_conv\.weight' is not in the state dict"),
], ids=list(LAYOUTS))
def test_another_variants_state_dict_does_not_fit_and_nothing_is_assigned(b0, b1_raw, layout, first_problem, tmp_path):
    """B1's blocks: timm's per-stage numbering leaves B1's extra blocks over; EfficientNet-PyTorch's flat one shifts."""
    tensors = torch_state_dict(*b1_raw, layout, 1.1)
    model = b0[0]
    before = _unchanged(model)
    with pytest.raises(ValueError, match=rf"does not fit model 'efficientnetb0' \({LAYOUTS[layout]} naming\): "
                                         rf"{first_problem}"):
        load_state_dict(model, write_state_dict(tmp_path / "b1.safetensors", tensors, "safetensors"))
    for now, then in zip(_unchanged(model), before):
        np.testing.assert_array_equal(now, then)


def test_misfit_tensors_and_another_naming_are_named(b0, tmp_path):
    tensors = _state_dict(b0, "timm")
    del tensors["blocks.6.0.conv_pwl.weight"]
    tensors["conv_stem.weight"] = tensors["conv_stem.weight"][:16]
    with pytest.raises(ValueError, match=r"'conv_stem\.weight' has shape \(16, 3, 3, 3\), layer 'stem_conv' expects "
                                         r"\(3, 3, 3, 32\) \(Keras layout\).*"
                                         r"'blocks\.6\.0\.conv_pwl\.weight' is not in"):
        load_state_dict(b0[0], write_state_dict(tmp_path / "bad.pth", tensors, "legacy"))
    resnet = {"conv1.weight": np.zeros((64, 3, 7, 7), np.float32), "fc.weight": np.zeros((1000, 2048), np.float32)}
    with pytest.raises(ValueError, match=r"does not fit model 'efficientnetb0': its keys follow neither timm's naming "
                                         r"\(conv_stem\.weight\) nor EfficientNet-PyTorch's \(_conv_stem\.weight\); "
                                         r"first keys: \['conv1\.weight', 'fc\.weight'\]"):
        load_state_dict(b0[0], write_state_dict(tmp_path / "resnet.pth", resnet, "zip"))


@pytest.mark.parametrize("write", [write_pickle_zip, write_pickle_legacy])
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(write, tmp_path):
    marker = tmp_path / "ran"

    class Hostile:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = write(tmp_path / "hostile.pth", {"conv_stem.weight": Hostile()})
    with pytest.raises(ValueError, match=rf"refused to load {os.system.__module__}\.system: only tensors"):
        read_state_dict(path)
    assert not marker.exists()


def test_torch_reader_follows_offsets_strides_and_dtypes(tmp_path):
    """Views of one storage (torch saves a storage once), a transposed stride, float16, a 0-d int64."""
    base = np.arange(24, dtype=np.float32)
    tensors = {"t": View(base, 0, (4, 3), (1, 4)), "tail": View(base, 20, (2, 2), (2, 1)),
               "half": np.array([[0.5, -2.0]], np.float16), "count": np.array(7, np.int64)}
    for write in (write_torch_zip, write_torch_legacy):
        got = read_torch_state_dict(write(tmp_path / f"{write.__name__}.pth", tensors))
        np.testing.assert_array_equal(got["t"], base[:12].reshape(3, 4).T)
        np.testing.assert_array_equal(got["tail"], [[20, 21], [22, 23]])
        assert got["half"].dtype == np.float16 and got["half"].tolist() == [[0.5, -2.0]]
        assert got["count"].shape == () and got["count"] == 7


def test_unreadable_files_are_refused_by_name(tmp_path):
    path = write_torch_zip(tmp_path / "sd.pth", {"a": np.ones((2, 2), np.float32)})
    data = path.read_bytes()
    (tmp_path / "short.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"short\.pth cannot be read as a PyTorch state dict: UnpicklingError"):
        read_torch_state_dict(tmp_path / "short.pth")
    write_pickle_legacy(tmp_path / "list.pth", [1, 2])
    with pytest.raises(ValueError, match=r"list\.pth holds list, not a state dict"):
        read_torch_state_dict(tmp_path / "list.pth")
    (tmp_path / "x.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match=r"x\.safetensors cannot be read as safetensors"):
        read_state_dict(tmp_path / "x.safetensors")
