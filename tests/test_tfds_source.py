"""``--dataset tfds:NAME``: prepared on request by TFDS's own builder, refused at start when it may not
be, and trained from once prepared. The dataset is a tiny builder defined here (TFDS registers it by
its class), so nothing leaves the machine."""
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from efficientnet_tf import cli
from efficientnet_tf.data import tfds_datasets
from training_helpers import TINY

NAME = "tiny_light_dark"


class TinyLightDark(tfds.core.GeneratorBasedBuilder):
    """Dark and light 24 px squares: two classes any model separates in a few steps."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(24, 24, 3)),
            "label": tfds.features.ClassLabel(names=["dark", "light"]),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(48, seed=0), "test": self._generate_examples(16, seed=1)}

    def _generate_examples(self, count, seed):
        rng = np.random.default_rng(seed)
        for i in range(count):
            label = i % 2
            level = rng.integers(170, 255) if label else rng.integers(0, 85)
            yield i, {"image": np.full((24, 24, 3), level, np.uint8), "label": label}


def _train(tmp_path, *flags):
    return cli.main(["train", *TINY, "--model-dir", str(tmp_path / "run"), "--dataset", f"tfds:{NAME}",
                     "--data-dir", str(tmp_path / "tfds"), *flags])


@pytest.mark.parametrize("offline, flag, why", [
    ("1", [], "EFFICIENTNET_TF_OFFLINE=1 forbids downloading it"),
    ("0", ["--no-download"], "--no-download forbids preparing it here"),
])
def test_an_unprepared_dataset_fails_at_start_naming_the_command(tmp_path, monkeypatch, capsys, offline, flag, why):
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", offline)
    assert _train(tmp_path, *flag) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"efficientnet-tf train: error: TFDS dataset {NAME} is not prepared under {tmp_path / 'tfds'} and "
                   f"{why}: run `tfds build {NAME} --data_dir {tmp_path / 'tfds'}` on a machine with network, then "
                   "point --data-dir at that folder"]
    assert not (tmp_path / "tfds" / NAME).exists() and not list((tmp_path / "run").glob("checkpoints/*"))


def test_an_unknown_name_is_one_line(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "tfds:no_such_dataset_here", "--model-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(
        "efficientnet-tf train: error: tfds:no_such_dataset_here: no such TFDS dataset (Dataset no_such_dataset_here not found")


@pytest.mark.slow
def test_prepared_on_request_then_trained_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "0")
    builder = tfds_datasets.prepared_builder(NAME, str(tmp_path / "tfds"), download=True)
    assert f"data: preparing TFDS dataset {NAME} under {tmp_path / 'tfds'}" in capsys.readouterr().err
    assert builder.is_prepared() and builder.info.splits["train"].num_examples == 48
    again = tfds_datasets.prepared_builder(NAME, str(tmp_path / "tfds"), download=False)  # no second prepare
    assert again.is_prepared() and "preparing" not in capsys.readouterr().err
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "1")
    assert _train(tmp_path, "--epochs", "1", "--steps-per-epoch", "3", "--eval-steps", "0") == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["examples"] == 16 and metrics["skipped"] == 0  # TFDS 'test' whole
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"]["dataset"] == f"tfds:{NAME}"
