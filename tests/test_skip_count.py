"""build_dataset(count_skips=True): the undecodable images travel with the batches, each counted once,
whatever the timing, the shuffle or the chunking."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from efficientnet_tf.data import PipelineConfig, build_dataset
from efficientnet_tf.training.inputs import epoch_seed
from tests.data_helpers import encode, natural_image, write_tfrecords

GOOD, BAD, BATCH = 15, 3, 4  # 18 images: an epoch of 18 // 4 batches runs past the 15 that decode
ALL = PipelineConfig(validation_split=0.0)  # a folder's every image in train


def _bad_images():
    jpeg = encode(natural_image(40, 40, seed=99), "JPEG")
    return [jpeg[: len(jpeg) // 3], b"", b"not an image at all\n"]


def _folder(root):
    """One class folder of 18 files, 3 of them undecodable, in the folder's own order."""
    os.makedirs(root / "a")
    for i in range(GOOD):
        (root / "a" / f"{i:02d}.jpg").write_bytes(encode(natural_image(40, 40, seed=i), "JPEG"))
    for i, data in enumerate(_bad_images()):
        (root / "a" / f"bad{i}.jpg").write_bytes(data)
    return f"folder:{root}"


def _records(root, good=GOOD):
    """One TFRecord file with the undecodable images last: at the end of a pass, a chunk of nothing else."""
    images = [encode(natural_image(40, 40, seed=i), "JPEG") for i in range(good)] + _bad_images()
    write_tfrecords(str(root), "train", images, [i % 3 for i in range(len(images))], shards=1)
    return f"tfrecord:{root}"


def _last_chunk_all_bad(monkeypatch):
    import efficientnet_tf.data.pipeline as pipeline

    monkeypatch.setattr(pipeline, "decode_chunk", lambda size: BAD)


def _epoch(source, seed, config, **kwargs):
    """(images, skipped per batch) of one epoch: steps_per_epoch batches of a fresh endless pipeline."""
    dataset, info = build_dataset(source, "train", 16, BATCH, True, config, seed=seed, repeat=True, count_skips=True,
                                  **kwargs)
    batches = list(dataset.take(info.steps_per_epoch))
    assert info.steps_per_epoch == 18 // BATCH and all(len(b) == 3 and b[2].dtype == tf.int64 for b in batches)
    return sum(int(b[0].shape[0]) for b in batches), [int(b[2]) for b in batches]


@pytest.mark.parametrize("layout", ["folder", "last"])
@pytest.mark.parametrize("deterministic", [True, False])
def test_an_epoch_counts_each_undecodable_image_once(tmp_path, monkeypatch, layout, deterministic):
    if layout == "folder":
        source, config = _folder(tmp_path), PipelineConfig(validation_split=0.0, deterministic=deterministic)
    else:  # unshuffled, so the first pass ends on a chunk of three failures
        _last_chunk_all_bad(monkeypatch)
        source, config = _records(tmp_path), PipelineConfig(shuffle_buffer=1, deterministic=deterministic)
    for epoch in range(3):
        runs = [_epoch(source, epoch_seed(0, epoch), config) for _ in range(3)]
        assert all(rows == 16 and sum(skips) == BAD for rows, skips in runs), runs
        if deterministic:
            assert runs[0] == runs[1] == runs[2]
    if layout == "last":
        assert runs[0][1] == [0, 0, 0, BAD]  # after the failures: the next pass's first row, in the last batch


def test_the_count_is_the_same_whatever_the_shuffle(tmp_path):
    source = _folder(tmp_path)
    placed = set()
    for seed in range(4):
        rows, skips = _epoch(source, seed, PipelineConfig(validation_split=0.0, shuffle_buffer=18, augment="randaugment",
                                                          mixup=0.2, cutmix=0.5))
        assert sum(skips) == BAD
        placed.add(tuple(skips))
    assert len(placed) > 1  # the failures land in different batches


def test_only_the_first_pass_counts_and_a_resumed_epoch_counts_the_rest(tmp_path):
    dataset, _ = build_dataset(_folder(tmp_path / "f"), "train", 16, BATCH, True, ALL, seed=1, repeat=True,
                               count_skips=True)
    skips = [int(s) for _, _, s in dataset.take(3 * 18 // BATCH)]
    assert sum(skips) == BAD and sum(skips[18 // BATCH:]) == 0
    # Resumed after two batches (their records skipped before decode, none undecodable): the same last two.
    source, ordered = _records(tmp_path / "r"), PipelineConfig(shuffle_buffer=1, deterministic=True)
    full = list(build_dataset(source, "train", 16, BATCH, True, ordered, seed=1, repeat=True, count_skips=True)[0].take(4))
    rest = build_dataset(source, "train", 16, BATCH, True, ordered, seed=1, repeat=True, count_skips=True, skip_batches=2)
    for a, b in zip(full[2:], rest[0].take(2)):
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        assert int(a[2]) == int(b[2])
    assert sum(int(b[2]) for b in full[2:]) == BAD


@pytest.mark.parametrize("layout,chunk", [("folder", None), ("folder", 1), ("last", None), ("last", BAD),
                                          ("only bad", None), ("only bad", 1)])
def test_evaluation_counts_every_undecodable_image_once(tmp_path, monkeypatch, layout, chunk):
    if chunk:
        import efficientnet_tf.data.pipeline as pipeline

        monkeypatch.setattr(pipeline, "decode_chunk", lambda size: chunk)
    source = {"folder": lambda: _folder(tmp_path), "last": lambda: _records(tmp_path),
              "only bad": lambda: _records(tmp_path, good=0)}[layout]()
    for batch in (BATCH, 5):
        dataset, _ = build_dataset(source, "train", 16, batch, False, ALL, count_skips=True)
        batches = [(int(x.shape[0]), int(s)) for x, _, s in dataset]
        assert sum(r for r, _ in batches) == (0 if layout == "only bad" else GOOD)
        assert sum(s for _, s in batches) == BAD, batches
        if layout == "last" and batch == 5:  # three full batches, then the failures after them in one of no rows
            assert batches == [(5, 0), (5, 0), (5, 0), (0, BAD)]
        if layout == "only bad":
            assert batches == [(0, BAD)]
    dataset, _ = build_dataset(source, "train", 16, BATCH, False, ALL)
    assert all(len(b) == 2 for b in dataset)  # without count_skips: (images, labels)


def test_replicas_sum_to_the_count(tmp_path):
    """Under MirroredStrategy on two logical CPUs (partial and empty per-replica batches), a subprocess."""
    source = _records(tmp_path)
    probe = os.path.join(os.path.dirname(__file__), "skip_probe.py")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))}
    done = subprocess.run([sys.executable, probe, source], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"replicas": 2, "evaluations": [[BAD, GOOD]] * 3, "epoch_skipped": [BAD] * 3}

