"""The data settings are one dataclass owned by data/: build_dataset takes it, the train config embeds
it (every field a flag), and each default is written once."""
import dataclasses
import inspect
import pathlib
import re
import typing

import efficientnet_tf
from efficientnet_tf.cli import train as cli
from efficientnet_tf.data import DataConfig, PipelineConfig, build_dataset
from efficientnet_tf.data.common import ReadOptions
from efficientnet_tf.data.config import RANDAUGMENT_MAGNITUDE
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training import recipes

ROOT = pathlib.Path(efficientnet_tf.__file__).parent
CALL = ("source", "split", "image_size", "batch_size", "training", "config")
STREAM = ("seed", "input_context", "drop_remainder", "crop", "repeat", "skip_batches", "image_dtype", "count_skips")  # this one stream's


def _settings(cls=PipelineConfig):
    return [f.name for f in dataclasses.fields(cls)]


def test_build_dataset_takes_every_setting_through_its_config_and_none_beside_it():
    params = inspect.signature(build_dataset).parameters
    assert tuple(params) == CALL + STREAM
    assert params["config"].default is None and not set(_settings()) & set(params)
    # Every setting is read from the config by the pipeline or the sources' ReadOptions.
    code = (ROOT / "data" / "pipeline.py").read_text() + (ROOT / "data" / "common.py").read_text()
    assert [name for name in _settings() if f"config.{name}" not in code] == []
    # ReadOptions carries some of them to the sources, with no default of its own.
    read = [f.name for f in dataclasses.fields(ReadOptions)]
    assert set(read) - set(_settings()) == {"split", "training", "seed", "input_context"}
    assert all(f.default is dataclasses.MISSING and f.kw_only for f in dataclasses.fields(ReadOptions))


def test_the_train_config_embeds_the_data_settings_and_every_one_is_a_flag():
    assert typing.get_type_hints(config_lib.TrainConfig)["data"] is DataConfig and issubclass(DataConfig, PipelineConfig)
    assert {f"data.{name}" for name in _settings(DataConfig)} <= {path for path, _, _ in cli.fields()}
    plain = cli.parse(["--dataset", "folder:/photos", "--recipe", "none"])[0].data  # no recipe preset: the defaults
    assert {name: getattr(plain, name) for name in _settings()} == dataclasses.asdict(PipelineConfig())


def test_each_data_default_is_written_once():
    """No literal default of a data setting anywhere else in the package: no keyword default, no
    annotated or plain assignment (``validation_split: float = 0.0``, ``randaugment_magnitude=10``)."""
    # dataset and num_classes also name other things (a tf.data.Dataset, a model's classes).
    names = "|".join(sorted(set(_settings(DataConfig)) - {"dataset", "num_classes"}))
    literal = re.compile(rf"\b({names})\b\s*(:[^=,\n]*)?=\s*[-+.\d\"']")
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in sorted(ROOT.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)]
    assert found == []
    assert PipelineConfig().validation_split == DataConfig().validation_split == 0.1
    assert PipelineConfig().randaugment_magnitude is None  # the pipeline then uses RANDAUGMENT_MAGNITUDE
    assert recipes.randaugment_magnitude("b0") == RANDAUGMENT_MAGNITUDE == 10 and recipes.randaugment_magnitude("b7") == 28
