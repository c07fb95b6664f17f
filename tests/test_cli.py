"""The export, predict, cam and convert subcommands, run in-process on a training run's directory layout."""
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import efficientnet_tf as et
from checkpoint_helpers import block_expands, official_checkpoint, relative_diff
from efficientnet_tf.cli import main
from efficientnet_tf.weights.checkpoint import load_checkpoint
from efficientnet_tf.run_dir import stored_crop_padding
from model_helpers import assert_logits_close, random_images
from export_helpers import NAMES, TRAIN_SIZE, encode, object_image, random_image, tiny_model, trained_run_dir


def _predicted_rows(text: str):
    blocks, current = {}, None
    for line in text.splitlines():
        if line.startswith("  "):
            score, label = line.split(None, 1)
            blocks[current].append((label, float(score)))
        else:
            current = line
            blocks[current] = []
    return blocks


def test_predict_prints_five_rows_per_image_from_keras_and_saved_model(tmp_path, capsys):
    files = []
    for i, (fmt, mode) in enumerate([("JPEG", "RGB"), ("PNG", "L"), ("BMP", "RGB")]):
        files.append(tmp_path / f"img{i}.{fmt.lower()}")
        files[-1].write_bytes(encode(object_image((30 + 10 * i, 40, 30), i, TRAIN_SIZE), fmt, mode))
    run = trained_run_dir()
    outputs = []
    for model_dir in (run, f"{run}/saved_model"):
        assert main(["predict", "--model-dir", model_dir, *map(str, files)]) == 0
        blocks = _predicted_rows(capsys.readouterr().out)
        assert list(blocks) == [str(f) for f in files]
        for rows in blocks.values():
            assert len(rows) == 5 and {label for label, _ in rows} == set(NAMES)
            scores = [s for _, s in rows]
            assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1.0) < 1e-3
        outputs.append(blocks)
    assert outputs[0] == outputs[1]  # the .keras path and the SavedModel answer alike


@pytest.mark.slow
def test_predict_gives_the_same_top1_on_every_runtime(tmp_path, capsys):
    files = []
    for i in range(4):
        files.append(tmp_path / f"img{i}.png")
        files[-1].write_bytes(encode(object_image((24 + 12 * i, 30 + 5 * i, 36), i, TRAIN_SIZE), "PNG"))
    run = Path(trained_run_dir())
    exported = tmp_path / "export"
    assert main(["export", "--model-dir", str(run), "--out", str(exported), "--tflite", "float32", "--onnx"]) == 0
    capsys.readouterr()
    served = {"keras": [str(run)], "saved_model": [str(run / "saved_model")],
              "tflite": [f"{exported}_float32.tflite"], "onnxruntime": [f"{exported}.onnx"],
              "openvino": [f"{exported}.onnx", "--runtime", "openvino"],
              "openvino bf16": [f"{exported}.onnx", "--runtime", "openvino", "--precision", "bf16"]}
    top1 = {}
    for name, args in served.items():
        assert main(["predict", "--model-dir", *args, *map(str, files)]) == 0, name
        blocks = _predicted_rows(capsys.readouterr().out)
        assert all(len(rows) == 5 and {l for l, _ in rows} == set(NAMES) for rows in blocks.values()), name
        top1[name] = [rows[0][0] for rows in blocks.values()]
    assert all(labels == top1["keras"] for labels in top1.values()), top1
    assert len(set(top1["keras"])) >= 3  # the images show different classes, and the model tells them apart
    assert main(["predict", "--model-dir", f"{exported}.onnx", "--runtime", "tflite", str(files[0])]) == 2
    assert "--runtime tflite cannot serve" in capsys.readouterr().err


def test_cam_writes_a_png_of_the_image_size(tmp_path, capsys):
    model_file = tmp_path / "model.keras"
    tiny_model().save(model_file)
    image = tmp_path / "photo.jpg"
    image.write_bytes(encode(random_image(45, 70), "JPEG"))
    out = tmp_path / "heat.png"
    assert main(["cam", str(image), "--model-dir", str(model_file), "--out", str(out), "--method", "gradcam"]) == 0
    assert "gradcam heatmap of class" in capsys.readouterr().out
    written = Image.open(out)
    assert written.format == "PNG" and written.size == (70, 45) and written.mode == "RGB"


def test_export_writes_saved_model_and_tflite(tmp_path, capsys):
    tiny_model().save(tmp_path / "model.keras")
    assert main(["export", "--model-dir", str(tmp_path), "--tflite", "float32"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "saved_model" / "saved_model.pb").is_file()
    tflite = Path(f"{tmp_path}/saved_model_float32.tflite")
    assert tflite.stat().st_size > 1_000_000 and f"bytes {tflite.stat().st_size}" in out
    assert stored_crop_padding(tmp_path) == 32  # no run record: the reference's crop
    (tmp_path / "saved_model" / "assets.extra" / "crop_padding.txt").write_text("0\n")  # a digits run
    assert main(["export", "--model-dir", str(tmp_path), "--out", str(tmp_path / "again")]) == 0
    assert stored_crop_padding(tmp_path / "again") == 0  # re-export keeps the run's crop
    assert main(["export", "--model-dir", str(tmp_path), "--out", str(tmp_path / "flag"), "--crop-padding", "8"]) == 0
    assert stored_crop_padding(tmp_path / "flag") == 8



@pytest.mark.slow
def test_convert_writes_keras_applications_h5_and_keras_weights(tmp_path, capsys):
    """The legacy h5 loads in keras.applications itself with our logits; .weights.h5 in our builders."""
    ckpt = tmp_path / "efficientnet-b0"
    official_checkpoint(ckpt, et.EfficientNetB0(), "efficientnet-b0", block_expands(1.0))
    legacy = tmp_path / "efficientnetb0.h5"
    assert main(["convert", str(ckpt), "--model", "b0", "--out", str(legacy)]) == 0
    out = capsys.readouterr().out
    assert "read 311 variables (EMA) of efficientnet-b0" in out and f"wrote {legacy} (b0)" in out
    x = random_images(2, 96, seed=5)
    shape = dict(input_shape=(96, 96, 3), classifier_activation=None)
    ref = keras.applications.EfficientNetB0(weights=str(legacy), **shape)
    ours = et.EfficientNetB0(weights=str(ckpt), **shape)
    assert_logits_close(ref(x), ours(x), rel=1e-4)

    weights = tmp_path / "b0_advprop_raw.weights.h5"
    assert main(["convert", str(ckpt / "model.ckpt"), "--model", "b0", "--out", str(weights), "--no-ema",
                 "--normalization", "advprop"]) == 0
    assert "(raw, ema=False)" in capsys.readouterr().out
    expected = et.EfficientNetB0(normalization="advprop", **shape)
    load_checkpoint(expected, ckpt, ema=False)
    from_file = et.EfficientNetB0(normalization="advprop", weights=str(weights), **shape)
    np.testing.assert_array_equal(from_file(x), expected(x))
    assert relative_diff(from_file(x), ours(x)) > 0.05  # raw + advprop scaling is not the EMA + imagenet model
    assert main(["convert", str(ckpt), "--model", "b0", "--out", str(tmp_path / "w.npz")]) == 2
    assert "convert: error: --out must end in .h5" in capsys.readouterr().err
    assert not (tmp_path / "w.npz").exists()