"""train.py's config: every dataclass field a flag, recipes and their detection, per-variant defaults, dry runs."""
import dataclasses
import json
import os

import pytest

from efficientnet_tf.cli import train as cli
from efficientnet_tf.training import recipes
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.cli.train import main

# The reference's minival: the first 20 of ImageNet's 1,024 train files hold 25,022 images.
REFERENCE_MINIVAL = "25,022 images"
README_COMMANDS = [
    "--model b0 --dataset tfrecord:/data/imagenet --batch-size 4096 --epochs 350",
    "--model b4 --dataset tfds:imagenet2012 --data-dir /data/tfds --batch-size 1024 --augment autoaugment",
    "--model b7 --dataset tfds:imagenet2012 --data-dir /data/tfds --augment randaugment",
]
IMAGENET_DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "imagenet.md")


def _leaf_fields(cls, prefix=""):
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            yield from _leaf_fields(f.default_factory, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, f


def _get(cfg, path):
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _other_value(path, field):
    """A value different from the default, valid for the field."""
    if "choices" in field.metadata:
        return next(c for c in field.metadata["choices"] if c != field.default and c != "auto")
    return {"model.name": "b3", "data.dataset": "tfrecord:/nowhere/x", "data.data_dir": "/d", "model_dir": "/tmp/m",
            "runtime.tpu": "grpc://1", "data.data_service": "grpc://127.0.0.1:5000",
            "steps_per_loop": "7"}.get(path)


def test_every_field_is_a_flag_with_its_help_and_sets_it():
    walked = list(_leaf_fields(config_lib.TrainConfig))
    assert len(walked) == 58 and {p for p, _ in walked} == {p for p, _, _ in cli.fields()}
    actions = {a.option_strings[0]: a for a in cli.parser()._actions}
    for path, field in walked:
        flag = cli.flag_name(path)
        assert field.metadata["help"] and actions[flag].help.startswith(field.metadata["help"]), path
        value = _other_value(path, field)
        if isinstance(field.default, bool):
            args, expected = ([flag] if not field.default else ["--no-" + flag[2:]]), not field.default
        elif value is not None:
            args, expected = [flag, str(value)], value
        else:
            number = 7 if "int" in str(field.type) else 0.375
            args, expected = [flag, str(number)], number
        cfg = cli.parse(args)[0]
        assert _get(cfg, path) == expected, (path, args)
        if "Optional" in str(field.type) and path not in ("model.image_size", "model.dropout_rate", "model_dir"):
            assert _get(cli.parse([flag, "none"])[0], path) is None, path


def test_recipe_auto_detection(tmp_path):
    assert recipes.choose("auto", "digits")[0] == "digits"
    assert recipes.choose("auto", "tfrecord:/data/ImageNet")[0] == "reference"
    assert recipes.choose("auto", "tfds:imagenet2012:validation")[0] == "reference"
    assert recipes.choose("auto", f"folder:{tmp_path}")[0] == "none"
    for i in range(1024):  # the ImageNet layout under any name
        (tmp_path / f"train-{i:05d}-of-01024").write_bytes(b"")
    assert recipes.choose("auto", f"tfrecord:{tmp_path}") == ("reference", "auto: 1024 train files (the ImageNet layout)")
    assert recipes.choose("none", "tfrecord:/data/imagenet") == ("none", "--recipe")
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.choose("imagenet", "digits")


def test_recipes_resolve_holdout_and_model_dir():
    ref = cli.parse(["--dataset", "tfrecord:/data/imagenet/"])[0]
    assert (ref.recipe, ref.data.holdout_shards, ref.data.holdout, ref.model_dir) == ("reference", 20, 0, "runs/b0-imagenet")
    assert (ref.batch_size, ref.epochs, ref.optimizer.base_lr, ref.optimizer.ema_decay) == (4096, 350, 0.016, 0.9999)
    tfds = cli.parse(["--dataset", "tfds:imagenet2012:validation", "--model", "efficientnet-b2"])[0]
    assert (tfds.data.holdout, tfds.data.holdout_shards, tfds.model_dir) == (25022, 0, "runs/b2-imagenet2012")
    plain = cli.parse(["--dataset", "folder:/home/me/photos/", "--recipe", "auto"])[0]
    assert (plain.recipe, plain.data.holdout, plain.data.holdout_shards, plain.model_dir) == ("none", 0, 0, "runs/b0-photos")
    forced = cli.parse(["--dataset", "tfrecord:/data/imagenet", "--recipe", "none"])[0]
    assert (forced.recipe, forced.data.holdout_shards) == ("none", 0)
    assert recipes.dataset_name("tfrecord:/data/in1k/{split}-*") == "in1k" and recipes.dataset_name("tfrecord:*") == "tfrecord"
    digits = cli.parse([])[0]
    assert (digits.recipe, digits.model.image_size, digits.batch_size, digits.model_dir) == ("digits", 32, 64, "runs/b0-digits")


@pytest.mark.parametrize("model,size,dropout,magnitude", [("b0", 224, 0.2, 10), ("b5", 456, 0.4, 17),
                                                           ("b7", 600, 0.5, 28), ("b8", 672, 0.5, 28)])
def test_per_variant_defaults(model, size, dropout, magnitude):
    cfg = cli.parse(["--model", model, "--dataset", "tfds:imagenet2012", "--augment", "randaugment"])[0]
    assert (cfg.model.image_size, cfg.model.dropout_rate, cfg.data.randaugment_magnitude) == (size, dropout, magnitude)
    assert cfg.data.randaugment_layers == 2
    given = cli.parse(["--model", model, "--dataset", "tfds:x", "--augment", "randaugment", "--randaugment-magnitude", "5",
                       "--image-size", "64", "--dropout-rate", "0.1"])[0]
    assert (given.model.image_size, given.model.dropout_rate, given.data.randaugment_magnitude) == (64, 0.1, 5)
    assert cli.parse(["--model", model, "--dataset", "tfds:x"])[0].data.randaugment_magnitude is None  # no RandAugment


def test_config_file_between_recipe_and_flags(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 7, "batch_size": 32, "optimizer": {"schedule": "cosine", "base_lr": 0.5}}))
    cfg = cli.parse(["--config", str(path), "--batch-size", "8", "--model", "efficientnet-b1"])[0]
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer.schedule, cfg.model.name) == (7, 8, "cosine", "efficientnet-b1")
    assert (cfg.model.image_size, cfg.optimizer.base_lr) == (32, 0.5)  # the digits recipe's size, the file's LR
    config_lib.save(cfg, tmp_path / "saved.json")
    assert config_lib.load(tmp_path / "saved.json") == cfg


def _dry_run(capsys, args):
    assert main(args.split() + ["--dry-run"]) == 0
    out, err = capsys.readouterr()
    return config_lib.from_dict(json.loads(out)), err


def test_dry_runs_resolve_the_reference_recipe(capsys):
    b0, err = _dry_run(capsys, README_COMMANDS[0])
    assert (b0.recipe, b0.data.holdout_shards, b0.model_dir, b0.model.image_size) == ("reference", 20, "runs/b0-imagenet", 224)
    assert REFERENCE_MINIVAL in err and "first 20 sorted train files" in err
    b4, err = _dry_run(capsys, README_COMMANDS[1])
    assert (b4.recipe, b4.data.holdout, b4.model_dir, b4.model.image_size, b4.data.augment) == (
        "reference", 25022, "runs/b4-imagenet2012", 380, "autoaugment")
    assert "25,022 training records" in err
    b7, err = _dry_run(capsys, README_COMMANDS[2])
    assert (b7.model.image_size, b7.model.dropout_rate, b7.data.randaugment_magnitude, b7.data.holdout) == (600, 0.5, 28, 25022)
    assert b7.model_dir == "runs/b7-imagenet2012" and not os.path.exists(b7.model_dir)  # nothing written, no data read


def test_imagenet_doc_commands_are_the_ones_tested():
    with open(IMAGENET_DOC, encoding="utf-8") as f:
        section = f.read().split("## Commands")[1].split("\n## ")[0]
    commands = [line.strip()[len("efficientnet-tf train "):] for line in section.splitlines()
                if line.strip().startswith("efficientnet-tf train ")]
    assert commands == README_COMMANDS


def test_steps_per_loop_takes_a_count_or_auto_and_refuses_the_rest(capsys):
    assert cli.parse([])[0].steps_per_loop == "auto"
    assert cli.parse(["--steps-per-loop", "AUTO"])[0].steps_per_loop == "auto"
    assert cli.parse(["--steps-per-loop", "100"])[0].steps_per_loop == "100"
    for bad in ("0", "-3", "2.5", "many"):
        with pytest.raises(SystemExit) as exit_info:
            cli.parse(["--steps-per-loop", bad])
        assert exit_info.value.code == 2
        assert f"steps_per_loop must be a positive integer or 'auto', got '{bad}'" in capsys.readouterr().err
