"""What a Colab user downloads on first use, made here so the notebooks run offline in CI through the
very cells a user runs: keras.applications-layout B0 files in the weights cache, and a tiny
``tf_flowers`` prepared by TFDS's own builder from a generated ``flower_photos.tgz``."""
import io
import tarfile
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from model_helpers import keras_app, randomize, write_official_h5

FLOWERS = ("daisy", "dandelion", "roses", "sunflowers", "tulips")  # flower_photos' folder names
FLOWER_COLOURS = ((250, 250, 240), (250, 220, 30), (200, 20, 40), (250, 180, 0), (230, 80, 160))


def fill_weights_cache(cache_root: Path) -> None:
    """``weights/imagenet/efficientnetb0.h5`` and ``..._notop.h5`` as the cache keeps keras' downloads
    (docs/pretrained.md), in keras.applications' file layout, with random weights."""
    folder = Path(cache_root) / "weights" / "imagenet"
    folder.mkdir(parents=True, exist_ok=True)
    for include_top, name in ((True, "efficientnetb0.h5"), (False, "efficientnetb0_notop.h5")):
        model = keras_app("b0", weights=None, include_top=include_top)
        randomize(model, seed=int(include_top))
        write_official_h5(model, folder / name)


def flower_photos_tgz(path: Path, per_class: int = 8, size: int = 48) -> Path:
    """``flower_photos/CLASS/N.jpg`` as download.tensorflow.org's archive holds them, one colour per class."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for colour, name in zip(FLOWER_COLOURS, FLOWERS):
            for i in range(per_class):
                pixels = np.clip(np.array(colour) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
                info = tarfile.TarInfo(f"flower_photos/{name}/{i}.jpg")
                info.size = buffer.tell()
                buffer.seek(0)
                tar.addfile(info, buffer)
    return path


def prepare_tf_flowers(data_dir: Path) -> int:
    """Runs TFDS's ``tf_flowers`` builder into ``data_dir`` with its download answered by a generated
    archive; returns the number of images prepared."""
    import tensorflow_datasets as tfds

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    archive = flower_photos_tgz(Path(data_dir) / "flower_photos.tgz")
    builder = tfds.builder("tf_flowers", data_dir=str(data_dir))
    with mock.patch.object(tfds.download.DownloadManager, "download", return_value=str(archive)):
        builder.download_and_prepare()
    return builder.info.splits["train"].num_examples
