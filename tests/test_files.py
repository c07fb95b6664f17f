"""Artifacts are written whole or not at all: a failing export or conversion leaves nothing behind."""
import os

import pytest

from efficientnet_tf import run_dir
from efficientnet_tf.files import atomic_output
from efficientnet_tf.serving.saved_model import export_saved_model
from efficientnet_tf.weights import convert
from export_helpers import tiny_model


def test_atomic_output_renames_on_success_and_removes_on_failure(tmp_path):
    target = tmp_path / "out" / "model.weights.h5"
    with atomic_output(target) as partial:
        assert partial.endswith("model.weights.h5") and os.path.dirname(partial) == str(target.parent)
        open(partial, "w").write("new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as partial:
            open(partial, "w").write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "new" and os.listdir(target.parent) == ["model.weights.h5"]
    folder = tmp_path / "saved"
    for text in ("first", "second"):  # a folder is replaced whole, not merged
        with atomic_output(folder) as partial:
            os.makedirs(partial)
            open(os.path.join(partial, text), "w").close()
    assert os.listdir(folder) == ["second"]


def test_a_failing_saved_model_export_leaves_no_folder(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(run_dir, "write_stored", fail)  # fails after the SavedModel itself is written
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(tiny_model(), tmp_path / "saved_model")
    assert os.listdir(tmp_path) == []


def test_a_failing_conversion_leaves_no_h5(tmp_path, monkeypatch):
    def fail(model, path):
        open(path, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(convert, "write_legacy_h5", fail)
    monkeypatch.setattr(convert, "load_checkpoint", lambda *a, **k: None)
    with pytest.raises(OSError, match="disk full"):
        convert.convert_checkpoint("ckpt", tiny_model(), tmp_path / "b0.h5")
    assert os.listdir(tmp_path) == []
