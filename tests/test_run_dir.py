"""run_dir: a run directory made through it alone is read by predict, cam and export (the CLI paths).

The layout is written out literally here, as the README describes it, not taken from run_dir's constants.
"""
import contextlib
import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from efficientnet_tf import EfficientNet, preprocessing
from efficientnet_tf.cli import main
from efficientnet_tf.serving.predict import bytes_classifier
from efficientnet_tf.run_dir import RunDir, newest_checkpoint

NAMES = ["ant", "bee", "cat"]
SIZE = 32


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A slim untrained model saved with crop_padding 0 (the whole image, as digits uses), not the default 32."""
    keras.utils.set_random_seed(3)
    model = EfficientNet(0.5, 0.3, SIZE, dropout_rate=0.0, drop_connect_rate=0.0, name="slim",
                         input_shape=(SIZE, SIZE, 3), classes=len(NAMES))
    root = tmp_path_factory.mktemp("run")
    RunDir(root).save_model(model, NAMES, crop_padding=0)
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(image).save(root / "in.png")
    return root, model


def _cli(*argv) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(a) for a in argv]) == 0
    return out.getvalue()


def test_layout_is_the_documented_one(run):
    root, _ = run
    assert (root / "model.keras").is_file()
    assert (root / "assets.extra" / "class_names.txt").read_text("utf-8") == "ant\nbee\ncat\n"
    assert (root / "assets.extra" / "crop_padding.txt").read_text("utf-8") == "0\n"
    r = RunDir(root)
    assert [r.config, r.history, r.metrics, r.saved_model] == [
        f"{root}/config.json", f"{root}/history.csv", f"{root}/metrics.json", f"{root}/saved_model"]
    assert r.logs("eval") == f"{root}/logs/eval"
    assert r.worker("worker", 2).root == f"{root}/workers/worker-2"
    with pytest.raises(ValueError, match="unknown checkpoint kind"):
        r.checkpoints("latest")


def test_checkpoint_managers_keep_and_resume(tmp_path):
    """backup/ keeps 1, checkpoints/ 3, best/ 1; a rerun resumes from the newest of backup/ and checkpoints/."""
    step = tf.Variable(0, dtype=tf.int64)
    managers = RunDir(tmp_path).checkpoint_managers(tf.train.Checkpoint(step=step))
    assert newest_checkpoint(managers) is None
    for kind, numbers in (("checkpoints", [1, 2, 3, 4]), ("backup", [5, 6]), ("best", [9])):
        for n in numbers:
            managers[kind].save(checkpoint_number=n)
    kept = {kind: sorted(p.name for p in (tmp_path / kind).glob("*.index")) for kind in ("checkpoints", "backup", "best")}
    assert kept == {"checkpoints": ["ckpt-2.index", "ckpt-3.index", "ckpt-4.index"], "backup": ["ckpt-6.index"],
                    "best": ["ckpt-9.index"]}
    assert newest_checkpoint(managers) == str(tmp_path / "backup" / "ckpt-6")


def _expected_probs(model, path, crop_padding):
    x = preprocessing.preprocess_for_eval(tf.constant(path.read_bytes()), SIZE, crop_padding)
    return model(x[None], training=False).numpy()[0]


def test_predict_reads_the_stored_labels_and_crop(run):
    root, model = run
    out = bytes_classifier(str(root), top_k=3)(image_bytes=tf.constant([(root / "in.png").read_bytes()]))
    np.testing.assert_allclose(out["probabilities"].numpy()[0], _expected_probs(model, root / "in.png", 0), atol=1e-5)
    assert {l.decode() for l in out["top_k_labels"].numpy()[0]} == set(NAMES)
    printed = _cli("predict", "--model-dir", root, root / "in.png", "--top-k", "3").splitlines()
    best = NAMES[int(np.argmax(out["probabilities"].numpy()[0]))]
    assert printed[0] == str(root / "in.png") and printed[1].split()[1] == best


def test_export_and_cam_read_the_run(run):
    root, model = run
    _cli("export", "--model-dir", root)
    extra = root / "saved_model" / "assets.extra"
    assert (extra / "class_names.txt").read_text("utf-8") == "ant\nbee\ncat\n"
    assert (extra / "crop_padding.txt").read_text("utf-8") == "0\n"
    served = tf.saved_model.load(str(root / "saved_model")).signatures["serving_bytes"]
    probs = served(image_bytes=tf.constant([(root / "in.png").read_bytes()]))["probabilities"].numpy()[0]
    np.testing.assert_allclose(probs, _expected_probs(model, root / "in.png", 0), atol=1e-5)

    printed = _cli("cam", "--model-dir", root, root / "in.png", "--out", root / "cam.png")
    image = tf.image.resize(np.asarray(Image.open(root / "in.png"), np.float32), (SIZE, SIZE), method="bicubic")
    predicted = int(np.argmax(model(tf.clip_by_value(image, 0, 255)[None], training=False)[0]))
    assert printed.strip().endswith(f"heatmap of class {predicted}")
    assert Image.open(root / "cam.png").size == (56, 40)
