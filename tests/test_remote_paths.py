"""A training run at URLs: every file of the run and its TFRecords goes through tf.io.gfile, none to local disk.

``ram://`` is TensorFlow's in-memory filesystem, a bucket (``gs://``) that needs no network. Its state
lives as long as the process, so each test writes under a root of its own.
"""
import itertools
import json
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from efficientnet_tf.cli import main
from efficientnet_tf.cli import train as cli
from efficientnet_tf.data import sources
from efficientnet_tf.data.common import ReadOptions
from efficientnet_tf.data import PipelineConfig
from efficientnet_tf.data.tfrecords import split_files
from efficientnet_tf.files import atomic_output, join
from efficientnet_tf.run_dir import RunDir
from efficientnet_tf.training import config as config_lib
from tests.data_helpers import write_imagenet_layout
from training_helpers import SMALL, TINY

RUN, DATA = "ram://runs/x", "ram://data/shapes"
NAMES = ["square_tl", "square_tr", "square_bl", "square_br"]
# 2 epochs of 3 steps, one step per host call, so that SIGTERM lands inside epoch 1 or 2.
ARGS = [*TINY, *SMALL, "--export", "--model-dir", RUN, "--dataset", f"tfrecord:{DATA}", "--batch-size", "8",
        "--epochs", "2", "--steps-per-epoch", "3", "--steps-per-loop", "1"]


def _walk(root):
    """Every file under ``root``, relative to it."""
    return sorted(join(folder, name)[len(root) + 1:] for folder, _, names in tf.io.gfile.walk(root) for name in names)


def _read(path, mode="r"):
    with tf.io.gfile.GFile(path, mode) as f:
        return f.read()


def test_run_dir_paths_at_a_url_keep_their_scheme():
    run = RunDir("gs://bucket/runs/b0")
    assert run.checkpoints("best") == "gs://bucket/runs/b0/best"
    assert (run.config, run.logs("train")) == ("gs://bucket/runs/b0/config.json", "gs://bucket/runs/b0/logs/train")
    assert run.worker("worker", 1).saved_model == "gs://bucket/runs/b0/workers/worker-1/saved_model"
    assert RunDir("gs://bucket/runs/b0/").model == "gs://bucket/runs/b0/model.keras"
    assert join("/runs", "b0", "best") == os.path.join("/runs", "b0", "best")


def test_tfrecord_source_globs_and_reads_labels_at_a_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = "ram://globbed"
    files, labels = write_imagenet_layout(root, "train", 3, 2, 4)
    with tf.io.gfile.GFile(f"{root}/labels.txt", "w") as f:
        f.write("".join(f"{n}\n" for n in NAMES))
    assert files == split_files(root, "train") == [f"{root}/train-0000{i}-of-00003" for i in range(3)]
    assert split_files(f"{root}/train-*-of-00003", "train") == files
    records = sources.load(f"tfrecord:{root}", None, ReadOptions.of(PipelineConfig(), split="train", training=False, seed=None,
                                                                     input_context=None))
    assert (records.num_examples, records.num_classes, records.class_names) == (6, 4, tuple(NAMES))
    assert records.classes_from == f"labels.txt ({root}/labels.txt)"
    assert sorted(int(y) for _, y in records.dataset) == sorted(labels)
    assert os.listdir(tmp_path) == []


def test_atomic_output_at_a_url_writes_in_place_whole_or_not_at_all(tmp_path, monkeypatch):
    """A folder replaces the one before whole, not merged; a failed block leaves nothing, and nothing local."""
    monkeypatch.chdir(tmp_path)
    for text in ("first", "second"):
        with atomic_output("ram://atomic/saved") as partial:
            assert partial == "ram://atomic/saved"
            tf.io.gfile.makedirs(f"{partial}/variables")
            with tf.io.gfile.GFile(f"{partial}/variables/{text}", "w") as f:
                f.write(text)
    assert _walk("ram://atomic") == ["saved/variables/second"] and _read("ram://atomic/saved/variables/second") == "second"
    with pytest.raises(RuntimeError):
        with atomic_output("ram://atomic/saved") as partial:
            tf.io.gfile.makedirs(partial)
            tf.io.gfile.GFile(f"{partial}/half", "w").close()
            raise RuntimeError("disk full")
    assert not tf.io.gfile.exists("ram://atomic/saved") and os.listdir(tmp_path) == []


def _sigterm_at_batch(n):
    """wrap_train: SIGTERM to this process (a preemption) as the n-th training batch is made."""
    made = itertools.count()

    def hit(images):
        if next(made) == n:
            os.kill(os.getpid(), signal.SIGTERM)
        return images

    def tapped(images, *rest):
        return (tf.ensure_shape(tf.py_function(hit, [images], images.dtype), images.shape), *rest)
    return lambda dataset: dataset.map(tapped)


@pytest.mark.slow
def test_a_run_at_ram_urls_writes_only_there_and_resumes_from_its_backup(tmp_path, monkeypatch, capsys):
    import matplotlib.pyplot  # noqa: F401  matplotlib's own font cache in HOME is not the run's

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    write_imagenet_layout(DATA, "train", 3, 8, 4)
    write_imagenet_layout(DATA, "validation", 1, 8, 4, seed=1)
    with tf.io.gfile.GFile(f"{DATA}/labels.txt", "w") as f:
        f.write("".join(f"{n}\n" for n in NAMES))

    cfg = cli.parse(ARGS)[0]
    assert cli.train(cfg, _sigterm_at_batch(1)) == 0
    out = capsys.readouterr().out
    stopped = int(out.split("SIGTERM: backed up at step ")[1].split(",")[0])
    assert 1 <= stopped < 6 and "Held-out" not in out
    assert tf.train.latest_checkpoint(f"{RUN}/backup") == f"{RUN}/backup/ckpt-{stopped}"
    assert not tf.io.gfile.exists(f"{RUN}/metrics.json")

    assert main(["train", *ARGS]) == 0
    out = capsys.readouterr().out
    assert f"Resumed from {RUN}/backup/ckpt-{stopped} at step {stopped} " in out and "Held-out (validation, 8 images" in out

    assert config_lib.load(f"{RUN}/config.json") == cfg
    history = _read(f"{RUN}/history.csv").splitlines()
    assert history[0].startswith("epoch,step,") and [r.split(",")[:2] for r in history[1:]] == [["1", "3"], ["2", "6"]]
    metrics = json.loads(_read(f"{RUN}/metrics.json"))
    assert (metrics["steps"], metrics["epochs"], metrics["examples"], metrics["dataset"]) == (6, 2, 8, f"tfrecord:{DATA}")
    assert _read(f"{RUN}/training_curves.png", "rb").startswith(b"\x89PNG")
    assert tf.train.latest_checkpoint(f"{RUN}/checkpoints") == f"{RUN}/checkpoints/ckpt-6"
    assert tf.train.latest_checkpoint(f"{RUN}/best") is not None
    assert not tf.io.gfile.exists(f"{RUN}/backup")  # removed once the run completed
    files = _walk(RUN)
    assert {f.split("/")[0] for f in files} == {"config.json", "history.csv", "metrics.json", "training_curves.png",
                                                 "logs", "checkpoints", "best", "model.keras", "assets.extra", "saved_model"}
    assert {f.split("/")[1] for f in files if f.startswith("logs/")} == {"train", "eval"}
    for extra in ("assets.extra", "saved_model/assets.extra"):
        assert _read(f"{RUN}/{extra}/class_names.txt") == "".join(f"{n}\n" for n in NAMES)
        assert _read(f"{RUN}/{extra}/crop_padding.txt") == "32\n"
    assert {"saved_model/saved_model.pb", "saved_model/variables/variables.index"} <= set(files)

    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    model = keras.saving.load_model(f"{RUN}/model.keras", safe_mode=True)
    served = tf.saved_model.load(f"{RUN}/saved_model").signatures["serving_default"]
    np.testing.assert_allclose(served(images=tf.constant(images))["probabilities"].numpy(),
                               model(images, training=False).numpy(), rtol=1e-4, atol=1e-5)

    assert os.listdir(cwd) == [] and os.listdir(home) == []
    assert not [d for _, dirs, _ in os.walk(tmp_path) for d in dirs if d in ("ram:", "gs:")]
