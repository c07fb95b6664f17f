"""Input-pipeline throughput in images/s per CPU core, on JPEGs this script makes itself.

    python benchmarks/input_pipeline.py [--threads N] [--images 600] [--size 224]

The images are ~500x375 (ImageNet's typical size), JPEG quality 90, with smooth gradients, blobs
and texture rather than noise, so the decoder sees realistic entropy. Each case runs a tf.data
map on a private thread pool of N threads (one op per thread), and the rate is divided by N;
the best of --repeats runs is kept, since other processes share the cores.
Cases: training preprocessing alone / with RandAugment(2, 10) / with AutoAugment v0, eval
preprocessing, the fused decode_and_crop_jpeg vs decode-then-crop, then every augmentation op
on decoded 224 px images, and keras' nearest augmentation layers on the same images.

``--end-to-end`` compares ``build_dataset`` (shuffle, per-element seeds, undecodable images skipped
and counted, labels checked) with a bare fused loop (read, parse, decode-and-crop, round to uint8,
batch) on the same ImageNet-layout TFRecords, with and without RandAugment, in alternating rounds on
every core, and prints the bytes of a batch of images in float32 and in uint8, as they go to the device.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import tensorflow as tf

from efficientnet_tf import preprocessing as P
from efficientnet_tf.data import augment as A
from efficientnet_tf.data.config import PipelineConfig
from efficientnet_tf.data.pipeline import build_dataset
from efficientnet_tf.data.tfrecords import parse_example


def make_jpegs(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:375, 0:500].astype(np.float32)
    jpegs = []
    for _ in range(count):
        image = np.empty((375, 500, 3), np.float32)
        for c in range(3):
            f = rng.uniform(0.002, 0.02, 2)
            image[..., c] = 128 + 90 * np.sin(f[0] * y + f[1] * x + rng.uniform(0, 6))
        for _ in range(12):
            cy, cx, r = rng.uniform(0, 375), rng.uniform(0, 500), rng.uniform(10, 120)
            image[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        texture = rng.normal(0, 12, (94, 125, 3)).repeat(4, 0).repeat(4, 1)[:375, :500]
        image = np.clip(image + texture, 0, 255).astype(np.uint8)
        jpegs.append(tf.io.encode_jpeg(image, quality=90).numpy())
    return jpegs


def rate(dataset: tf.data.Dataset, threads: int, count: int, repeats: int) -> float:
    """Best of `repeats` runs of images/s per thread over `count` elements (after a warm-up batch).

    The best run is the one least disturbed by other processes on a shared machine.
    """
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    dataset = dataset.batch(32).with_options(options)
    iterator = iter(dataset)
    next(iterator)  # warm up
    best = 0.0
    for _ in range(repeats):
        start, seen = time.perf_counter(), 0
        while seen < count:
            seen += int(next(iterator)[0].shape[0])
        best = max(best, seen / (time.perf_counter() - start) / threads)
    return best


def _unfused(image_bytes, size, seed):
    """decode_jpeg of the whole image, then the same crop window as the fused path."""
    image = tf.io.decode_jpeg(image_bytes, channels=3)
    y, x, h, w = tf.unstack(P._distorted_window(tf.shape(image), size, seed, P.REFERENCE_CROP))
    image = tf.image.stateless_random_flip_left_right(image[y : y + h, x : x + w], seed)
    return P._resize(image, size)


def write_imagenet_records(folder, jpegs, files: int = 8, per_file: int = 1024):
    """``train-0000i-of-0000N`` files in the reference layout (1-based ``image/class/label``), 10 classes."""
    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    for f in range(files):
        with tf.io.TFRecordWriter(os.path.join(folder, f"train-{f:05d}-of-{files:05d}")) as writer:
            for i in range(per_file):
                example = {"image/encoded": feature(jpegs[(f * per_file + i) % len(jpegs)]),
                           "image/class/label": feature(1 + i % 10)}
                writer.write(tf.train.Example(features=tf.train.Features(feature=example)).SerializeToString())
    return sorted(tf.io.gfile.glob(os.path.join(folder, "train-*")))


def _bare(files, size, batch, randaugment):
    """The least a training loop must do: read, parse, fused decode-and-crop (+ RandAugment), uint8, batch."""
    def one(record, seed):  # the same seeds as build_dataset's, so both draw the same RandAugment ops
        image_bytes, label = parse_example(record, 1)
        crop_seed, augment_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        image = P.to_dtype(P.preprocess_for_train(image_bytes, size, seed=crop_seed), tf.uint8)
        return (A.randaugment(image, 2, 10, augment_seed) if randaugment else image), label

    records = tf.data.TFRecordDataset(files, buffer_size=8 << 20).repeat()
    dataset = tf.data.Dataset.zip(records, tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2))
    return dataset.map(one, num_parallel_calls=tf.data.AUTOTUNE).batch(batch, drop_remainder=True).prefetch(
        tf.data.AUTOTUNE)


def _ours(folder, size, batch, randaugment):
    # The shuffle buffer in proportion to the records as the default's 10,000 is to ImageNet's 1.28M
    # (or larger): a buffer as large as the whole set would refill, and stall, at every pass.
    config = PipelineConfig(augment="randaugment" if randaugment else "none", randaugment_magnitude=10,
                            shuffle_buffer=1024)
    return build_dataset(f"tfrecord:{folder}", "train", size, batch, training=True, config=config, seed=0,
                         repeat=True)[0]


def _images_per_second(dataset, count: int) -> float:
    iterator = iter(dataset)
    next(iterator), next(iterator)  # warm up
    start, seen = time.perf_counter(), 0
    while seen < count:
        seen += int(next(iterator)[0].shape[0])
    return seen / (time.perf_counter() - start)


def end_to_end(count: int, size: int, rounds: int, records: int, batch: int = 32) -> None:
    """Images/s of build_dataset and of the bare loop, alternating, and the ratio of the medians."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        files = write_imagenet_records(folder, make_jpegs(64), per_file=max(1, records // 8))
        print(f"end to end: {len(files)} TFRecord files, {size}px, batch {batch}, {os.cpu_count()} cores, "
              f"{count} images a round, median of {rounds} alternating rounds, images/s")
        images = _ours(folder, size, batch, False).element_spec[0]
        pixels = batch * size * size * 3
        print(f"  bytes of a batch of images to the device: float32 {pixels * tf.float32.size:,}, "
              f"{images.dtype.name} (build_dataset's) {pixels * images.dtype.size:,}")
        for randaugment in (False, True):
            bare, ours = [], []
            for _ in range(rounds):
                bare.append(_images_per_second(_bare(files, size, batch, randaugment), count))
                ours.append(_images_per_second(_ours(folder, size, batch, randaugment), count))
            b, o = float(np.median(bare)), float(np.median(ours))
            label = "+ RandAugment(2, 10)" if randaugment else "no augmentation"
            print(f"  {label:<22s} bare {b:7.0f}  build_dataset {o:7.0f}  end-to-end/bare {o / b:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--end-to-end", action="store_true", help="only build_dataset against the bare loop")
    parser.add_argument("--rounds", type=int, default=7, help="--end-to-end: alternating rounds")
    parser.add_argument("--records", type=int, default=8192, help="--end-to-end: TFRecords written (8 files)")
    args = parser.parse_args()
    threads, count, size, repeats = args.threads, args.images, args.size, args.repeats
    if args.end_to_end:
        end_to_end(count, size, args.rounds, args.records)
        return

    jpegs = make_jpegs(64)
    print(f"{len(jpegs)} JPEGs 500x375 q90, mean {np.mean([len(j) for j in jpegs]) / 1024:.0f} KiB; "
          f"{threads} threads; output {size}px; images/s per core")
    source = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(jpegs).repeat(),
                                 tf.data.Dataset.random(seed=0).batch(2))

    def case(fn):
        return rate(source.map(lambda b, s: (fn(b, s), 0), num_parallel_calls=threads), threads, count, repeats)

    train = lambda b, s: P.preprocess_for_train(b, size, seed=s)  # noqa: E731
    results = {
        "train, no augmentation": case(train),
        "train + RandAugment(2, 10)": case(lambda b, s: A.randaugment(train(b, s), 2, 10, s)),
        "train + AutoAugment v0": case(lambda b, s: A.autoaugment(train(b, s), s)),
        "eval (center crop)": case(lambda b, s: P.preprocess_for_eval(b, size)),
        "train, decode then crop (unfused)": case(lambda b, s: _unfused(b, size, s)),
    }
    for name, value in results.items():
        print(f"  {name:<40s} {value:8.0f}")
    base = results["train, no augmentation"]
    print(f"  fused decode_and_crop_jpeg speed-up      {base / results['train, decode then crop (unfused)']:8.2f}x")
    print(f"  RandAugment cost                         {base / results['train + RandAugment(2, 10)']:8.2f}x")
    print(f"  AutoAugment cost                         {base / results['train + AutoAugment v0']:8.2f}x")

    decoded = [tf.cast(P.preprocess_for_eval(j, size), tf.uint8).numpy() for j in jpegs[:16]]
    images = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(decoded).cache().repeat(),
                                 tf.data.Dataset.random(seed=1).batch(2))

    def op_rate(fn):
        return rate(images.map(lambda im, s: (fn(im, s), 0), num_parallel_calls=threads), threads, count, repeats)

    print(f"per op on decoded {size}px uint8 images (level 10, RandAugment constants), images/s per core")
    for name in A.RANDAUGMENT_OPS:
        print(f"  {name:<40s} {op_rate(lambda im, s, n=name: A.apply_op(im, n, 10, s)):8.0f}")
    print("ours against keras 3's nearest augmentation layer at a like strength, images/s per core")
    for name, ours, layer in _keras_counterparts():
        layer = tf.autograph.experimental.do_not_convert(layer)
        print(f"  {name:<40s} {op_rate(ours):8.0f} {op_rate(lambda im, s, f=layer: f(tf.cast(im, tf.float32))):8.0f}")


def _keras_counterparts():
    """(label, our op, keras layer) with the keras factor fixed where it allows one."""
    import keras

    def ours(name, level):
        return lambda im, s: A.apply_op(im, name, level, s)

    return [
        ("Equalize / Equalization", ours("Equalize", 10), keras.layers.Equalization(value_range=(0, 255))),
        ("AutoContrast / AutoContrast", ours("AutoContrast", 10), keras.layers.AutoContrast(value_range=(0, 255))),
        ("Solarize 128 / Solarization", ours("Solarize", 5), keras.layers.Solarization(threshold_factor=(0.5, 0.5), seed=0)),
        ("Posterize 4 bits / RandomPosterization", ours("Posterize", 10), keras.layers.RandomPosterization(4, seed=0)),
        ("ShearX 0.3 / RandomShear", ours("ShearX", 10), keras.layers.RandomShear(x_factor=0.3, fill_mode="constant", seed=0)),
        ("Rotate 30 / RandomRotation", ours("Rotate", 10), keras.layers.RandomRotation(1 / 12, fill_mode="constant", seed=0)),
        ("Sharpness / RandomSharpness", ours("Sharpness", 10), keras.layers.RandomSharpness(0.9, seed=0)),
        ("Color / RandomColorDegeneration", ours("Color", 10), keras.layers.RandomColorDegeneration(0.9, seed=0)),
    ]

if __name__ == "__main__":
    main()
