"""ONNX export (Keras' own, through tf2onnx) run by ONNX Runtime and OpenVINO, and the held-out images
that int8 calibration and every agreement check use: data sources or plain folders of photos."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

import efficientnet_tf as et
from efficientnet_tf import cli
from efficientnet_tf.serving.held_out import agreement, held_out
from efficientnet_tf.serving.onnx_export import ONNXModel, export_onnx
from export_helpers import CLASSES, SIZE, random_image, tiny_model


def _logits_model(builder, size):
    model = builder(input_shape=(size, size, 3), classifier_activation="softmax")
    rng = np.random.default_rng(0)  # BN statistics that make every layer count, so outputs differ per image
    for layer in model.layers:
        if "bn" in layer.name and layer.weights:
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape).astype(np.float32), var])
    return model


@pytest.mark.slow
@pytest.mark.parametrize("builder", [et.EfficientNetB0, et.EfficientNetLite0], ids=["b0", "lite0"])
def test_onnx_matches_keras_at_a_dynamic_batch(builder, tmp_path):
    model = _logits_model(builder, 64)
    path = export_onnx(model, tmp_path / "model.onnx")
    graph = onnx.load(path).graph  # read by onnx itself, not by our runner
    (inp,), (out,) = graph.input, graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [64, 64, 3]  # symbolic batch, NHWC
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in out.type.tensor_type.shape.dim][1:] == [1000]
    images = np.random.default_rng(1).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    runtime = ONNXModel(path)
    for batch in (1, 3):
        got = runtime(images[:batch])
        assert got.shape == (batch, 1000)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)  # probabilities: the softmax is inside
        check = agreement(model, runtime, images[:batch])
        assert check["top1_agreement"] == 1.0 and check["max_abs_diff"] <= 1e-4, check
    vino = agreement(model, ONNXModel(path, "openvino"), images)
    assert vino["top1_agreement"] == 1.0 and vino["max_abs_diff"] <= 1e-4, vino


def _photos(root: Path, count: int, bad: int = 0) -> Path:
    """``count`` JPEG/PNG photos in nested folders, without labels, plus ``bad`` files that do not decode."""
    for i in range(count):
        folder = root / f"trip{i % 3}" / ("day" if i % 2 else "night")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(random_image(48 + i, 64, seed=i)).save(folder / f"p{i}.{'png' if i % 2 else 'jpg'}")
    for i in range(bad):
        (root / f"broken{i}.jpg").write_bytes(b"not a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def test_a_plain_folder_calibrates_and_checks_without_labels(tmp_path, capsys):
    held = held_out(str(_photos(tmp_path, 12, bad=1)), SIZE)
    assert held.source == f"{tmp_path}: 10 calibration and 2 check images"  # 13 files: every 5th checks (one broken)
    assert len(held.calibration) == 10 and held.calibration[0].shape == (1, SIZE, SIZE, 3)
    assert held.check.shape == (2, SIZE, SIZE, 3) and held.check.dtype == np.float32
    assert "skipped 1 undecodable file(s), e.g." in capsys.readouterr().err


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no images (.jpg, .jpeg, .png, .gif, .bmp) in it or below"),
    (lambda p: (p / "broken.jpg").write_bytes(b"x") and p, "none of its 1 image files decodes"),
])
def test_an_empty_or_undecodable_folder_fails_at_start_and_writes_nothing(tmp_path, capsys, make, message):
    photos = tmp_path / "photos"
    photos.mkdir()
    make(photos)
    tiny_model().save(tmp_path / "model.keras")
    args = ["export", "--model-dir", str(tmp_path), "--tflite", "int8", "--representative", str(photos)]
    assert cli.main(args) == 2
    assert capsys.readouterr().err.strip() == f"efficientnet-tf export: error: {photos}: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "photos"]


def test_int8_without_representative_fails_before_writing(tmp_path, capsys):
    tiny_model().save(tmp_path / "model.keras")
    assert cli.main(["export", "--model-dir", str(tmp_path), "--tflite", "int8"]) == 2
    assert "--tflite int8 needs --representative" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


@pytest.mark.slow
def test_cli_export_onnx_prints_its_check(tmp_path, capsys):
    tiny_model().save(tmp_path / "model.keras")
    photos = _photos(tmp_path / "photos", 10)
    args = ["export", "--model-dir", str(tmp_path), "--onnx", "--representative", str(photos)]
    assert cli.main(args) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("ONNX: "))
    onnx_file = tmp_path / "saved_model.onnx"
    assert line.startswith(f"ONNX: path {onnx_file}, bytes {onnx_file.stat().st_size}, top1_agreement 1.0, ")
    assert line.endswith("checked_on 2 held-out images")
    diff = float(line.split("max_abs_diff ")[1].split(",")[0])
    assert diff <= 1e-4 and ONNXModel(onnx_file)(np.zeros((2, SIZE, SIZE, 3), np.float32)).shape == (2, CLASSES)
