"""scikit-learn's bundled handwritten digits, written once as ImageNet-layout TFRecords.

The default dataset goes through the same ``tfrecord:`` reader and JPEG decode path as ImageNet,
with no network: 1,797 real 8x8 scans (values 0-16) are scaled to 0-255, upsampled 4x by pixel
repetition (nearest neighbour) to 32x32 and stored as grayscale JPEG (quality 95) under
``image/encoded``, with the 1-based ``image/class/label`` of the reference's ImageNet files
(digit d is stored as d + 1). It is read with its own crop policy, :data:`CROP`. A fixed permutation (NumPy seed 0) puts 1,437 images in ``train``
(two shards) and 360 in ``validation`` (one shard); ``labels.txt`` names the classes "0".."9".

The files live in ``$EFFICIENTNET_TF_CACHE/digits-v1`` (default ``~/.cache/efficientnet_tf``).
They are written to a temporary directory that is renamed into place, so a killed run never
leaves a partial dataset behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from efficientnet_tf.preprocessing import CropPolicy

NUM_TRAIN = 1437
NUM_VALIDATION = 360
NUM_CLASSES = 10
IMAGE_SIZE = 32
_DIRNAME = "digits-v1"
# A digit fills its 8x8 frame: the reference's ImageNet crops (eval keeps the central 50% of a
# 32 px image, training crops down to 8% of it) cut digits into unreadable fragments, and a
# mirrored digit is another glyph. So: the whole image for eval, mild crops and no flip in training.
CROP = CropPolicy(crop_padding=0, area_range=(0.6, 1.0), flip=False)
_TRAIN_SHARDS = 2


def cache_root() -> str:
    return os.environ.get("EFFICIENTNET_TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "efficientnet_tf")


def _example(jpeg: bytes, label: int) -> bytes:
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"JPEG"])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label + 1])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_split(directory: str, split: str, images: np.ndarray, labels: np.ndarray, shards: int) -> None:
    for shard, indices in enumerate(np.array_split(np.arange(len(images)), shards)):
        path = os.path.join(directory, f"{split}-{shard:05d}-of-{shards:05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for i in indices:
                jpeg = tf.io.encode_jpeg(images[i][:, :, None], quality=95).numpy()
                writer.write(_example(jpeg, int(labels[i])))


def prepare_digits() -> str:
    """Directory holding the digits TFRecords, writing them on first use."""
    root = cache_root()
    final = os.path.join(root, _DIRNAME)
    if os.path.isdir(final):
        return final
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    scale = IMAGE_SIZE // images.shape[1]
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    order = np.random.RandomState(0).permutation(len(images))
    train, validation = order[:NUM_TRAIN], order[NUM_TRAIN:]
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=_DIRNAME + ".tmp", dir=root)
    try:
        _write_split(tmp, "train", images[train], digits.target[train], _TRAIN_SHARDS)
        _write_split(tmp, "validation", images[validation], digits.target[validation], 1)
        with open(os.path.join(tmp, "labels.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{d}\n" for d in range(NUM_CLASSES)))
        os.rename(tmp, final)
    except OSError:
        if not os.path.isdir(final):  # a concurrent writer winning the rename is fine
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
