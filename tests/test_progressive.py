"""Progressive learning's pieces in-process: the stage schedule, its settings and their errors, the v2
recipe's Table 6, and the any-size view the stages train through."""
import keras
import numpy as np
import pytest

from efficientnet_tf.cli import train as cli
from efficientnet_tf.training import build, progressive, recipes
from efficientnet_tf.training import config as config_lib

RANGES = {"image_size": (128, 300), "randaugment_magnitude": (5, 15), "mixup": (0, 0.2), "dropout_rate": (0.1, 0.3)}


def test_one_stage_is_the_maximum():
    assert progressive.schedule(1, RANGES) == [{"image_size": 300, "randaugment_magnitude": 15, "mixup": 0.2,
                                                "dropout_rate": 0.3}]


def test_three_stages_are_the_minimum_the_midpoint_and_the_maximum():
    got = progressive.schedule(3, RANGES)
    expected = [{"image_size": 128, "randaugment_magnitude": 5, "mixup": 0.0, "dropout_rate": 0.1},
                {"image_size": 214, "randaugment_magnitude": 10, "mixup": 0.1, "dropout_rate": 0.2},
                {"image_size": 300, "randaugment_magnitude": 15, "mixup": 0.2, "dropout_rate": 0.3}]
    assert len(got) == 3
    for row, want in zip(got, expected):
        assert row == pytest.approx(want, abs=1e-12)
    assert got[0]["dropout_rate"] == 0.1 and got[-1]["dropout_rate"] == 0.3  # the ends exactly, no rounding error


def test_four_stages_are_thirds_of_the_way():
    got = progressive.schedule(4, {"image_size": (128, 380), "dropout_rate": (0.1, 0.4)})
    assert [r["image_size"] for r in got] == pytest.approx([128, 212, 296, 380])
    assert [r["dropout_rate"] for r in got] == pytest.approx([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("stages,ranges,message", [
    (0, RANGES, "progressive stages must be an integer >= 1, got 0"),
    (-2, RANGES, "got -2"),
    (2.5, RANGES, "got 2.5"),
    (True, RANGES, "got True"),
    (3, {"mixup": (0.4, 0.2)}, "progressive mixup must rise from its minimum to its maximum, got 0.4 -> 0.2"),
    (3, {"dropout_rate": (float("nan"), 0.2)}, "progressive dropout_rate must rise"),
])
def test_bad_schedules_are_one_line_errors(stages, ranges, message):
    with pytest.raises(ValueError) as err:
        progressive.schedule(stages, ranges)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_epochs_split_into_equal_runs_of_stages():
    assert [progressive.stage_of(e, 6, 3) for e in range(6)] == [0, 0, 1, 1, 2, 2]
    assert [progressive.stage_of(e, 7, 3) for e in range(7)] == [0, 0, 0, 1, 1, 2, 2]
    counts = np.bincount([progressive.stage_of(e, 350, 4) for e in range(350)])
    assert counts.tolist() == [88, 87, 88, 87]  # the paper's "about 87 epochs" each
    assert {progressive.stage_of(e, 5, 1) for e in range(5)} == {0}


def test_flags_fill_the_minimums_and_stages_follow_them():
    cfg = cli.parse(["--progressive", "3", "--epochs", "6", "--image-size", "64", "--min-image-size", "32",
                     "--augment", "randaugment", "--randaugment-magnitude", "9", "--min-randaugment-magnitude", "3",
                     "--mixup", "0.4", "--dropout-rate", "0.3", "--min-dropout-rate", "0.1"])[0]
    p = cfg.progressive
    assert (p.stages, p.min_image_size, p.max_image_size, p.min_randaugment_magnitude) == (3, 32, 64, 3)
    assert (p.min_mixup, p.min_dropout_rate) == (0.4, 0.1)  # no minimum given: constant at the run's own
    assert config_lib.is_resolved(cfg)
    stages = progressive.stages(cfg)
    assert [(s.number, s.image_size, s.randaugment_magnitude, s.mixup) for s in stages] == [
        (1, 32, 3, 0.4), (2, 48, 6, 0.4), (3, 64, 9, 0.4)]
    assert [s.dropout_rate for s in stages] == pytest.approx([0.1, 0.2, 0.3])
    assert stages[1].row() == {"stage": 2, "image_size": 48, "randaugment_magnitude": 6, "mixup": 0.4,
                               "dropout_rate": pytest.approx(0.2)}
    assert progressive.describe(stages[1].row(), 3) == "stage 2/3: 48 px, RandAugment 6, mixup 0.4, dropout 0.2"
    assert stages[0].pipeline(cfg.data).randaugment_magnitude == 3 and stages[0].pipeline(cfg.data).augment == "randaugment"


def test_off_is_one_stage_of_the_run_settings():
    cfg = cli.parse(["--progressive", "1", "--min-image-size", "64"])[0]  # off: the minimum is not used
    assert cfg.progressive.min_image_size == 64 and cfg.progressive.max_image_size is None
    (stage,) = progressive.stages(cfg)
    assert (stage.number, stage.image_size, stage.randaugment_magnitude, stage.mixup, stage.dropout_rate) == (
        1, 32, None, 0.0, 0.2)
    assert "randaugment_magnitude" not in stage.row()
    assert progressive.describe(stage.row(), 1) == "stage 1/1: 32 px, mixup 0, dropout 0.2"


@pytest.mark.parametrize("argv,message", [
    (["--progressive", "3", "--min-image-size", "48"],
     "--min-image-size 48 must be between 0 and the last stage's 32 (--max-image-size or --image-size)"),
    (["--progressive", "5", "--epochs", "4"], "progressive learning has 5 stages but the run only 4 epochs"),
    (["--progressive", "-1"], "progressive stages must be >= 0 (0 or 1 = off), got -1"),
    (["--progressive", "2", "--min-image-size", "24"], "--min-image-size 24 is below the model's smallest input, 32"),
    (["--progressive", "2", "--mixup", "0.2", "--min-mixup", "0.5"],
     "--min-mixup 0.5 must be between 0 and the last stage's 0.2 (--mixup)"),
    (["--progressive", "2", "--min-dropout-rate", "-0.1"], "--min-dropout-rate -0.1 must be between 0 and"),
    (["--progressive", "2", "--min-randaugment-magnitude", "3"], "--min-randaugment-magnitude needs --augment randaugment"),
    (["--progressive", "2", "--data-service", "grpc://127.0.0.1:5000"], "it cannot run through --data-service"),
])
def test_bad_combinations_are_one_line_at_start(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("efficientnet-tf train: error: ") and message in err, err


@pytest.mark.parametrize("variant,size,magnitude,mixup,dropout", [
    ("v2-s", (128, 300), (5, 15), (0, 0), (0.1, 0.3)),
    ("v2-m", (128, 380), (5, 20), (0, 0.2), (0.1, 0.4)),
    ("v2-l", (128, 380), (5, 25), (0, 0.4), (0.1, 0.5)),
])
def test_v2_recipe_is_table_6(variant, size, magnitude, mixup, dropout):
    # The paper's Table 6; from_dict applies the recipe whether or not the variant is built yet.
    cfg = config_lib.from_dict({"recipe": "v2", "model": {"name": variant}, "data": {"dataset": "tfds:imagenet2012"}})
    p = cfg.progressive
    assert (cfg.recipe, p.stages, cfg.data.augment, cfg.data.holdout) == ("v2", 4, "randaugment", 25022)
    assert (p.min_image_size, p.max_image_size) == size
    assert (p.min_randaugment_magnitude, cfg.data.randaugment_magnitude) == magnitude
    assert (p.min_mixup, cfg.data.mixup) == mixup and (p.min_dropout_rate, cfg.model.dropout_rate) == dropout
    assert cfg.model.image_size is None  # evaluation stays at the variant's own resolution
    assert (cfg.optimizer.base_lr, cfg.epochs, cfg.batch_size) == (0.016, 350, 4096)  # the reference's


def test_v2_recipe_refuses_a_variant_without_a_row(capsys):
    for variant in ("b0", "v2-b0", "v2-xl"):
        with pytest.raises(ValueError) as err:
            recipes.v2(variant)
        assert str(err.value) == f"recipe v2 has Table 6 ranges for v2-s, v2-m, v2-l only, not {variant!r}"
    with pytest.raises(SystemExit):
        cli.parse(["--recipe", "v2", "--model", "b3"])
    assert capsys.readouterr().err == ("efficientnet-tf train: error: recipe v2 has Table 6 ranges for v2-s, v2-m, "
                                       "v2-l only, not 'b3' (see --help)\n")


def test_the_any_size_view_shares_the_weights_and_the_eval_padding():
    cfg = cli.parse(["--width", "0.25", "--depth", "0.2", "--image-size", "48"])[0]
    model = build.build_model(cfg, 10, "float32")
    view = build.any_size(model)
    assert len(view.weights) == len(model.weights) > 100 and all(a is b for a, b in zip(view.weights, model.weights))
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    np.testing.assert_array_equal(view(images).numpy(), model(images).numpy())  # 48 px pads 3 px maps as TF's "same"
    assert [tuple(view(np.zeros((1, s, s, 3), "float32")).shape) for s in (32, 40, 64)] == [(1, 10)] * 3
    view.get_layer("top_dropout").rate = 0.05
    assert model.get_layer("top_dropout").rate == 0.05


class _Steps:
    def __init__(self):
        self.retraces = 0

    def retrace(self):
        self.retraces += 1


def test_entering_a_stage_sets_the_dropout_and_retraces_only_when_it_changes():
    cfg = cli.parse(["--progressive", "3", "--epochs", "6", "--dropout-rate", "0.3", "--min-dropout-rate", "0.1"])[0]
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dropout(0.3, name="top_dropout")(inputs))
    steps = _Steps()
    stages = progressive.Stages(cfg, model, steps)
    seen = []
    for epoch in (0, 1, 2, 3, 4, 5):
        seen.append((stages.enter(epoch).number, model.get_layer("top_dropout").rate, steps.retraces))
    assert seen == [(1, 0.1, 1), (1, 0.1, 1), (2, pytest.approx(0.2), 2), (2, pytest.approx(0.2), 2), (3, 0.3, 3),
                    (3, 0.3, 3)]
    resumed = progressive.Stages(cfg, model, steps)  # a rerun enters its epoch's stage directly
    assert resumed.enter(2).dropout_rate == pytest.approx(0.2) and model.get_layer("top_dropout").rate == pytest.approx(0.2)
