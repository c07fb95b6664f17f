"""Small images and TFRecords for the input-pipeline tests (all written under tmp_path)."""
import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image


def natural_image(height, width, seed=0):
    """uint8 RGB with smooth gradients and blobs, so JPEG behaves like on photos (not noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        fy, fx, phase = rng.uniform(0.5, 3), rng.uniform(0.5, 3), rng.uniform(0, 6)
        image[..., c] = 128 + 80 * np.sin(fy * y / height * 3 + fx * x / width * 3 + phase)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(5, min(height, width) / 3)
        mask = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        image[mask] = rng.uniform(0, 255, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(array, fmt, mode=None, **kwargs):
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def write_tfrecords(directory, split, images, labels, shards, layout="reference"):
    """Write encoded `images` with labels: reference (image/encoded, 1-based) or tfds (image, 0-based)."""
    os.makedirs(directory, exist_ok=True)
    for shard, idx in enumerate(np.array_split(np.arange(len(images)), shards)):
        path = os.path.join(directory, f"{split}-{shard:05d}-of-{shards:05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for i in idx:
                if layout == "reference":
                    feature = {
                        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[images[i]])),
                        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[labels[i] + 1])),
                    }
                else:
                    feature = {
                        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[images[i]])),
                        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[labels[i]])),
                    }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())


def unique_pngs(count, size=16):
    """`count` distinct PNGs (pixel 0 encodes the index) and labels i % 5."""
    images = []
    for i in range(count):
        array = natural_image(size, size, seed=i)
        array[0, 0] = [i % 256, i // 256, 7]
        images.append(encode(array, "PNG"))
    return images, [i % 5 for i in range(count)]
