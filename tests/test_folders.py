"""folder:PATH as users have it: class sub-folders only, a per-class validation split, bad images counted."""
import os
import zlib

import pytest
import tensorflow as tf

from efficientnet_tf.data import PipelineConfig, build_dataset
from efficientnet_tf.cli import train as cli
from efficientnet_tf.training.inputs import Inputs
from efficientnet_tf.training.trainer import Trainer
from tests.data_helpers import encode, natural_image
from training_helpers import read_json, run_train

SLIM = ["--width", "0.25", "--depth", "0.1"]
BAD = {"truncated.jpg": lambda jpeg: jpeg[: len(jpeg) // 3], "empty.jpg": lambda jpeg: b"",
       "fake.jpg": lambda jpeg: b"<html>not a JPEG</html>"}


def _photos(root, classes=("cat", "dog", "owl"), per_class=9, bad=True):
    """``root/<class>/*.jpg``: ``per_class`` good JPEGs each; with ``bad``, one truncated, one empty and
    one fake JPEG in the first class, the fake named to rank first by CRC32 so it lands in validation."""
    for c, name in enumerate(classes):
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            (root / name / f"img{i}.jpg").write_bytes(encode(natural_image(36, 44, seed=10 * c + i), "JPEG"))
    if bad:
        jpeg = encode(natural_image(36, 44, seed=99), "JPEG")
        names = [f for f in os.listdir(root / classes[0])] + ["truncated.jpg", "empty.jpg"]
        fake = next(f"fake{k}.jpg" for k in range(1000)
                    if zlib.crc32(f"fake{k}.jpg".encode()) < min(zlib.crc32(n.encode()) for n in names))
        for file, make in BAD.items():
            (root / classes[0] / (fake if file == "fake.jpg" else file)).write_bytes(make(jpeg))
    return root


def test_validation_split_per_class_disjoint_and_stable(tmp_path):
    root = _photos(tmp_path / "photos", per_class=9)  # cat: 12 files, dog/owl: 9
    kwargs = dict(config=PipelineConfig(validation_split=0.2), drop_remainder=False)
    _, train = build_dataset(f"folder:{root}", "train", 16, 4, training=False, **kwargs)
    _, val = build_dataset(f"folder:{root}", "validation", 16, 4, training=False, **kwargs)
    # round(12 * 0.2) = 2 of cat, round(9 * 0.2) = 2 of dog and of owl.
    assert (train.num_examples, val.num_examples) == (24, 6) and not set(train.files) & set(val.files)
    assert sorted(os.path.basename(os.path.dirname(f)) for f in val.files) == ["cat", "cat", "dog", "dog", "owl", "owl"]
    assert any(os.path.basename(f).startswith("fake") for f in val.files)  # the lowest CRC32 of its class
    assert "24 train / 6 validation images" in val.notes[0]
    _, again = build_dataset(f"folder:{root}", "validation", 16, 4, training=True, seed=5, **kwargs)
    assert again.files == val.files


def test_every_split_opened_at_start_with_clear_errors(tmp_path):
    strategy = tf.distribute.get_strategy()

    def inputs(path, *flags):
        return Inputs(cli.parse(["--dataset", f"folder:{path}", "--image-size", "16", "--batch-size", "4", *flags])[0], strategy)

    root = _photos(tmp_path / "ok", per_class=4, bad=False)
    opened = inputs(root)
    assert set(opened.infos) == {"train", "validation"} and opened.infos["validation"].num_examples == 3
    assert opened.num_classes == 3 and opened.info.classes_from == "the class sub-folders"
    with pytest.raises(FileNotFoundError, match="no 'validation' or 'val' sub-folder"):
        inputs(root, "--validation-split", "0")
    os.makedirs(root / "empty_class")
    with pytest.raises(FileNotFoundError, match="empty_class has no images"):
        inputs(root)
    os.makedirs(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        inputs(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        inputs(tmp_path / "missing")


@pytest.mark.slow
def test_train_py_on_a_flat_folder_counts_skipped_images(tmp_path):
    root = _photos(tmp_path / "photos", per_class=9)
    out = tmp_path / "run"
    result = run_train(out, "--dataset", f"folder:{root}", "--batch-size", "8", "--epochs", "2", "--steps-per-epoch", "4",
                       "--eval-steps", "none", *SLIM, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    log = result.stdout
    # validation_split 0.1: round(1.2) = 1 of cat (the fake JPEG), 1 each of dog and owl.
    assert "27 train / 3 validation images" in log and "recipe=none" in log
    assert "| validation loss" in log and "Held-out (validation, 2 images, 1 skipped)" in log
    lines = [line for line in log.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all(line.endswith(", 1 validation") for line in lines), lines
    train_skipped = [int(line.split("| skipped ")[1].split()[0]) for line in lines]
    # Each epoch reads a pipeline of its own, 32 images from an endless stream of passes over the 27
    # (25 decodable): its batches reach past its first pass, so they count that pass's 2 bad images.
    assert train_skipped == [2, 2]
    header, *rows = (out / "history.csv").read_text().splitlines()
    skipped = [dict(zip(header.split(","), r.split(",")))["eval_skipped"] for r in rows]
    assert skipped == ["1", "1"]
    metrics = read_json(out / "metrics.json")
    assert (metrics["examples"], metrics["skipped"]) == (2, 1) and metrics["train_skipped"] == 4


def test_each_epoch_of_each_run_counts_exactly_the_undecodable_files(tmp_path):
    """train/ holds 18 files, 3 undecodable: batches of 4 take 16 rows per epoch, past the 15 that
    decode, so every epoch meets its pass's 3 bad files, whatever the timing, in every run."""
    root = _photos(tmp_path / "data" / "train", per_class=5)
    _photos(tmp_path / "data" / "validation", per_class=2, bad=False)
    for run in range(3):
        out = tmp_path / f"run{run}"
        cfg = cli.parse(["--dataset", f"folder:{root.parent}", "--model-dir", str(out), "--image-size", "32",
                         "--batch-size", "4", "--epochs", "3", "--eval-steps", "none", "--no-export", "--seed", "1",
                         *SLIM])[0]
        metrics = Trainer(cfg).train()
        header, *rows = (out / "history.csv").read_text().splitlines()
        rows = [dict(zip(header.split(","), r.split(","))) for r in rows]
        assert [(r["step"], r["skipped"], r["eval_skipped"]) for r in rows] == [("4", "3", "0"), ("8", "3", "0"),
                                                                               ("12", "3", "0")]
        assert metrics["train_skipped"] == read_json(out / "metrics.json")["train_skipped"] == 9
        assert metrics["skipped"] == 0 and metrics["examples"] == 6


@pytest.mark.slow
def test_split_where_nothing_decodes_is_an_error(tmp_path):
    root = tmp_path / "data"
    _photos(root / "train", per_class=3, bad=False)
    for name in ("cat", "dog", "owl"):
        os.makedirs(root / "validation" / name)
        (root / "validation" / name / "x.jpg").write_bytes(b"")
    result = run_train(tmp_path / "run", "--dataset", f"folder:{root}", "--batch-size", "4", "--epochs", "1",
                       "--steps-per-epoch", "1", *SLIM)
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()[-1]  # one line, no traceback
    assert error.startswith("efficientnet-tf train: error: no 'validation' image of folder:"), result.stderr
    assert error.endswith("could be decoded (3 skipped)") and "Traceback" not in result.stderr
