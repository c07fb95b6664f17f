"""The reference ImageNet TFRecord layout: shard holdout, per-worker files, label checks, and train.py on it.

The layout is written here from its description (tensorflow/tpu ``build_imagenet_data.py``):
``train-0000i-of-0000N`` / ``validation-0000i-of-0000N`` files of tf.train.Examples with
``image/encoded`` (JPEG), ``image/class/label`` (1-based: class 0 is stored as 1),
``image/class/synset``, ``image/format``, ``image/height``, ``image/width`` and ``image/filename``.
"""
import os

import pytest
import tensorflow as tf

from efficientnet_tf.data import PipelineConfig, build_dataset, sources
from efficientnet_tf.data.common import ReadOptions
from tests.data_helpers import encode, example, natural_image, write_imagenet_layout, write_records
from training_helpers import read_json, run_train

SLIM = ["--width", "0.25", "--depth", "0.1"]  # a slim B0-shaped model: seconds per step on 2 cores


def _file_of_record(files):
    """image bytes -> the file holding them, read with plain tf.train.Example parsing."""
    owner = {}
    for path in files:
        for serialized in tf.data.TFRecordDataset(path):
            example = tf.train.Example.FromString(serialized.numpy())
            owner[example.features.feature["image/encoded"].bytes_list.value[0]] = path
    return owner


def _files_read(source, split, owner, ctx=None, training=False, seed=None):
    read = ReadOptions.of(PipelineConfig(holdout_shards=2), split=split, training=training, seed=seed, input_context=ctx)
    records = sources.load(source, None, read)
    return [owner[b.numpy()] for b, _ in records.dataset], records


def test_shard_holdout_disjoint_by_file_and_per_worker_files(tmp_path):
    files, _ = write_imagenet_layout(str(tmp_path), "train", num_files=6, per_file=5, num_classes=4)
    owner = _file_of_record(files)
    source = f"tfrecord:{tmp_path}"
    minival, info = _files_read(source, "minival", owner)
    assert set(minival) == set(files[:2]) and len(minival) == 10 and info.num_examples == 10
    train, info = _files_read(source, "train", owner, training=True, seed=3)
    assert set(train) == set(files[2:]) and len(train) == 20 and info.num_examples == 20
    # File shuffling stays on: the file order changes from one epoch to the next.
    first, second = [list(dict.fromkeys(owner[b.numpy()] for b, _ in info.dataset)) for _ in range(2)]
    assert sorted(first) == sorted(second) == files[2:] and first != second
    seen = []
    for worker in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker, num_replicas_in_sync=2)
        read, _ = _files_read(source, "train", owner, ctx=ctx, training=True, seed=3)
        assert len(read) == 10 and len(set(read)) == 2  # whole files: this worker's 2 of the 4
        seen.append(set(read))
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(files[2:])


def test_known_imagenet_layout_counts_without_reading():
    names = [f"/none/train-{i:05d}-of-01024" for i in range(1024)]
    from efficientnet_tf.data import tfrecords
    assert tfrecords.known_count("minival", names, 20) == 25022
    assert tfrecords.known_count("train", names, 20) == 1281167 - 25022
    assert tfrecords.known_count("minival", names[:1000], 20) is None


def test_labels_checked_missing_key_and_offset(tmp_path):
    write_imagenet_layout(str(tmp_path / "bad"), "validation", 1, 6, 3, bad_label_at=(0, 4))
    three = PipelineConfig(num_classes=3)
    dataset, info = build_dataset(f"tfrecord:{tmp_path / 'bad'}", "validation", 16, 3, training=False, config=three)
    assert info.classes_from == "--num-classes"
    batches = iter(dataset)
    next(batches)  # the first batch is good
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bad label: class -1 is outside \[0, 3\).*label_offset=1"):
        next(batches)
    # A record with no label key at all.
    os.makedirs(tmp_path / "nolabel")
    write_records(tmp_path / "nolabel" / "validation-00000-of-00001",
                  [example(image__encoded=encode(natural_image(20, 20), "JPEG"))])
    dataset, _ = build_dataset(f"tfrecord:{tmp_path / 'nolabel'}", "validation", 16, 1, training=False, config=three)
    with pytest.raises(tf.errors.InvalidArgumentError, match="no image/class/label or label key"):
        next(iter(dataset))


def test_num_classes_from_the_largest_label_and_labels_txt(tmp_path):
    write_imagenet_layout(str(tmp_path), "validation", 2, 3, 5)
    _, info = build_dataset(f"tfrecord:{tmp_path}", "validation", 16, 2, training=False)
    assert (info.num_classes, info.classes_from) == (5, "the largest label seen + 1")
    (tmp_path / "labels.txt").write_text("".join(f"class{i}\n" for i in range(7)))
    _, info = build_dataset(f"tfrecord:{tmp_path}", "validation", 16, 2, training=False)
    assert info.num_classes == 7 and info.classes_from.startswith("labels.txt") and info.class_names[6] == "class6"


@pytest.mark.slow
def test_bad_label_stops_train_py_naming_it(tmp_path):
    data = tmp_path / "data"
    write_imagenet_layout(str(data), "train", 3, 4, 4, bad_label_at=(2, 1))
    write_imagenet_layout(str(data), "validation", 1, 4, 4)
    result = run_train(tmp_path / "run", "--dataset", f"tfrecord:{data}", "--holdout-shards", "1", "--batch-size", "8",
                       "--epochs", "1", "--steps-per-epoch", "1", "--num-classes", "4", *SLIM)
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("efficientnet-tf train: error: bad label: class -1 is outside [0, 4)"), result.stderr
    assert f"tfrecord:{data}" in error and "Traceback" not in result.stderr
    assert "label_offset=1" in error and "epoch 1/1:" not in result.stdout


@pytest.mark.slow
def test_train_py_on_imagenet_layout_with_shard_holdout(tmp_path):
    data = tmp_path / "imagenet"
    write_imagenet_layout(str(data), "train", 4, 12, 4)
    write_imagenet_layout(str(data), "validation", 2, 8, 4, seed=1)
    out = tmp_path / "run"
    result = run_train(out, "--dataset", f"tfrecord:{data}", "--recipe", "reference", "--holdout-shards", "1",
                       "--batch-size", "8", "--epochs", "2", "--steps-per-epoch", "2", "--eval-steps", "none",
                       "--export", *SLIM, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    log = result.stdout
    assert "recipe=reference" in log and "data: 4 classes, from the largest label seen + 1" in log
    assert "data train: 3 files, 36 images" in log and "data minival: 1 files, 12 images" in log
    assert "data validation: 2 files, 16 images" in log
    assert "| minival loss" in log and "epoch 2/2:" in log and "Held-out (validation, 16 images, 0 skipped)" in log
    history = (out / "history.csv").read_text().splitlines()
    assert "skipped" in history[0].split(",") and "eval_skipped" in history[0].split(",") and len(history) == 3
    metrics = read_json(out / "metrics.json")
    assert (metrics["split"], metrics["examples"], metrics["skipped"], metrics["train_skipped"]) == ("validation", 16, 0, 0)
    assert tf.train.latest_checkpoint(str(out / "best")) and (out / "model.keras").exists()
    assert (out / "saved_model" / "saved_model.pb").exists()
