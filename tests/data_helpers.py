"""Small images and TFRecords for the input-pipeline tests (all written under tmp_path)."""
import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from efficientnet_tf.files import join


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


def _feature(value):
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def example(**features) -> bytes:
    """A serialized tf.train.Example; keys with '/' are passed as ``image__encoded`` -> ``image/encoded``."""
    feature = {k.replace("__", "/"): _feature(v) for k, v in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path, records) -> str:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def write_tfrecords(directory, split, images, labels, shards, layout="reference"):
    """Write encoded `images` with labels: reference (image/encoded, 1-based) or tfds (image, 0-based)."""
    os.makedirs(directory, exist_ok=True)
    for shard, idx in enumerate(np.array_split(np.arange(len(images)), shards)):
        if layout == "reference":
            records = [example(image__encoded=images[i], image__class__label=int(labels[i]) + 1) for i in idx]
        else:
            records = [example(image=images[i], label=int(labels[i])) for i in idx]
        write_records(os.path.join(directory, f"{split}-{shard:05d}-of-{shards:05d}"), records)


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
    return example(image__encoded=jpeg, image__class__label=label_1based, image__class__synset=synset,
                   image__format=b"JPEG", image__height=height, image__width=width, image__filename=filename)


def write_imagenet_layout(directory, split, num_files, per_file, num_classes, size=40, seed=0, bad_label_at=None):
    """``{split}-0000i-of-0000N`` files of JPEG records whose class (0-based c, stored as c + 1) is visible:
    a bright square in one of 4 positions; classes take turns. Returns the files and the 0-based labels.

    ``bad_label_at=(file, record)`` stores label 0 there (invalid in a 1-based layout). ``directory`` may
    be a URL (``ram://...``).
    """
    tf.io.gfile.makedirs(directory)
    rng = np.random.default_rng(seed)
    files, labels = [], []
    for shard in range(num_files):
        records = []
        for r in range(per_file):
            c = (shard * per_file + r) % num_classes
            image = np.full((size, size, 3), 40, np.uint8)
            x0 = (c % 2) * (size // 2)
            y0 = (c // 2) * (size // 2)
            image[y0:y0 + size // 2, x0:x0 + size // 2] = 220
            image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
            stored = 0 if bad_label_at == (shard, r) else c + 1
            records.append(imagenet_example(encode(image, "JPEG"), stored, b"n%08d" % c, size, size,
                                            f"{split}_{shard}_{r}.JPEG".encode()))
            labels.append(c)
        files.append(write_records(join(directory, f"{split}-{shard:05d}-of-{num_files:05d}"), records))
    return files, labels
