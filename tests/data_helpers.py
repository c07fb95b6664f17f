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


def imagenet_example(jpeg, label_1based, synset, height, width, filename):
    """One record in the reference ImageNet layout (tensorflow/tpu build_imagenet_data.py), keys spelled out here."""
    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
    feature = {"image/encoded": b(jpeg), "image/class/label": i(label_1based), "image/class/synset": b(synset),
               "image/format": b(b"JPEG"), "image/height": i(height), "image/width": i(width),
               "image/filename": b(filename)}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_imagenet_layout(directory, split, num_files, per_file, num_classes, size=40, seed=0, bad_label_at=None):
    """``{split}-0000i-of-0000N`` files of JPEG records whose class (0-based c, stored as c + 1) is visible:
    a bright square in one of 4 positions; classes take turns. Returns the files and the 0-based labels.

    ``bad_label_at=(file, record)`` stores label 0 there (invalid in a 1-based layout).
    """
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    files, labels = [], []
    for shard in range(num_files):
        path = os.path.join(directory, f"{split}-{shard:05d}-of-{num_files:05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for r in range(per_file):
                c = (shard * per_file + r) % num_classes
                image = np.full((size, size, 3), 40, np.uint8)
                x0 = (c % 2) * (size // 2)
                y0 = (c // 2) * (size // 2)
                image[y0:y0 + size // 2, x0:x0 + size // 2] = 220
                image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
                stored = 0 if bad_label_at == (shard, r) else c + 1
                writer.write(imagenet_example(encode(image, "JPEG"), stored, b"n%08d" % c, size, size,
                                              f"{split}_{shard}_{r}.JPEG".encode()))
                labels.append(c)
        files.append(path)
    return files, labels
