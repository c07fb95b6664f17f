"""``train.py`` with faults injected into its training batches, for the fault and resume tests.

    python tests/fault_train.py [--nan-at B:K] [--tap-file PATH] TRAIN_FLAGS...

It trains as ``efficientnet-tf train`` does (:func:`efficientnet_tf.cli.train.train`: exit 3 when the
loss diverges), through the Trainer's ``wrap_train`` seam. Training datasets are numbered as they are
built: build 0 is the one the trainer opens at start (never read), then one per epoch (a resumed epoch
too). ``--nan-at B:K`` makes the images of build B NaN from its batch K on; ``--tap-file PATH`` appends
one line per batch produced, ``BUILD BATCH SHA1,SHA1,...`` (its images' digests; see ``read_tap``).
"""
import argparse
import hashlib
import itertools
import sys

import tensorflow as tf

from efficientnet_tf.cli import train as cli


def poison(dataset: tf.data.Dataset, first: int) -> tf.data.Dataset:
    """The batches of ``dataset`` with NaN images from batch ``first`` on (as float32: uint8 holds no NaN)."""
    return dataset.enumerate().map(
        lambda i, batch: (tf.where(i >= first, float("nan"), tf.cast(batch[0], tf.float32)), *batch[1:]))


def tap(dataset: tf.data.Dataset, build: int, path: str) -> tf.data.Dataset:
    """``dataset`` unchanged, each batch logged to ``path`` as it is produced."""
    batches = itertools.count()

    def record(images):
        digests = [hashlib.sha1(image.tobytes()).hexdigest() for image in images.numpy()]
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{build} {next(batches)} {','.join(digests)}\n")
        return images

    def mapped(x, *rest):
        seen = tf.py_function(record, [x], x.dtype)
        seen.set_shape(x.shape)
        return seen, *rest

    return dataset.map(mapped)


class Faults:
    """The ``wrap_train`` callable: numbers the training datasets built and applies the faults asked for."""

    def __init__(self, nan_at: str, tap_file: str):
        self.nan_at = tuple(int(n) for n in nan_at.split(":")) if nan_at else None
        self.tap_file = tap_file
        self.builds = itertools.count()

    def __call__(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        build = next(self.builds)
        if self.nan_at and self.nan_at[0] == build:
            dataset = poison(dataset, self.nan_at[1])
        return tap(dataset, build, self.tap_file) if self.tap_file else dataset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--nan-at", default="", metavar="B:K", help="NaN images in build B from its batch K on")
    parser.add_argument("--tap-file", default="", metavar="PATH", help="log each training batch's image digests")
    faults, train_flags = parser.parse_known_args(argv)
    cfg = cli.parse(train_flags)[0]
    return cli.train(cfg, Faults(faults.nan_at, faults.tap_file))


if __name__ == "__main__":
    sys.exit(main())
