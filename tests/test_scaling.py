import math
import re

import keras
import pytest

import efficientnet_tf as et
from efficientnet_tf.scaling import method as scaling

OFFICIAL = {  # tensorflow/tpu efficientnet_builder: (width, depth, resolution, dropout)
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5), "b8": (2.2, 3.6, 672, 0.5),
    "l2": (4.3, 5.3, 800, 0.5),
}


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_official_coefficients_are_pinned(name):
    v = et.get_variant(name)
    assert (v.width, v.depth, v.resolution, v.dropout) == OFFICIAL[name]


def test_compound_coefficients():
    s = scaling.compound_coefficients(1)
    assert (s.depth, s.width, s.resolution) == (pytest.approx(1.2), pytest.approx(1.1), 256)  # 257.6 -> 256
    assert scaling.compound_coefficients(0) == scaling.Scale(1.0, 1.0, 224)
    s = scaling.compound_coefficients(2.5)
    assert s.depth == pytest.approx(1.2**2.5) and s.resolution % 8 == 0
    with pytest.raises(ValueError):
        scaling.compound_coefficients(-1)


def test_macs_grow_about_two_to_the_phi():
    """Measured on B0 at 224 px: MACs(phi)/MACs(0) = 2.23, 4.69, 8.43, 16.38 for phi = 1..4, against
    1.92**phi = 1.92, 3.69, 7.08, 13.60: growth per unit phi is 2.01 on average (1.92 ideal). The
    reference's rounding (filters to multiples of 8, repeats by ceil) inflates the first step most."""
    macs = [et.profile(scaling.efficientnet_from_phi(phi)).macs for phi in range(5)]
    ratios = [m / macs[0] for m in macs[1:]]
    assert [round(r, 2) for r in ratios] == [2.23, 4.69, 8.43, 16.38]
    per_phi = ratios[-1] ** (1 / 4)
    assert abs(per_phi / 1.92027 - 1) < 0.15
    for phi in range(2, 5):  # every later step multiplies MACs by about 1.92
        assert abs(macs[phi] / macs[phi - 1] / 1.92027 - 1) < 0.15


def test_macs_follow_the_constraint_with_unbiased_depth_rounding():
    """With repeats rounded to nearest, MACs(phi)/MACs(0) = 1.78, 3.85, 7.40, 13.22: within 8% of
    1.92**phi for phi = 1..4 (0.93, 1.04, 1.04, 0.97 of it)."""
    macs = [et.profile(scaling.efficientnet_from_phi(phi, depth_rounding="nearest")).macs for phi in range(5)]
    ratios = [macs[phi] / macs[0] / 1.92027**phi for phi in range(1, 5)]
    assert [round(r, 2) for r in ratios] == [0.93, 1.04, 1.04, 0.97]
    assert all(abs(r - 1) < 0.15 for r in ratios)
    assert et.round_repeats(3, 1.2, "nearest") == 4 and et.round_repeats(2, 1.2, "nearest") == 2
    with pytest.raises(ValueError, match="depth_rounding"):
        et.round_repeats(2, 1.2, "floor")


def test_fractional_phi_and_single_dimension_scaling():
    model = scaling.efficientnet_from_phi(0.5, include_top=False)
    assert model.input_shape == (None, 240, 240, 3) and model.name == "efficientnet_phi0.5"
    base = et.profile(scaling.scaled_efficientnet()).macs
    wide = et.profile(scaling.scaled_efficientnet(width=2.0)).macs
    deep = et.profile(scaling.scaled_efficientnet(depth=2.0)).macs
    big = et.profile(scaling.scaled_efficientnet(resolution=448)).macs
    assert 3.0 < wide / base < 4.5  # ~ width**2
    assert 1.7 < deep / base < 2.5  # ~ depth
    assert big / base == pytest.approx(4.0, rel=0.02)  # resolution**2, exactly up to padding


def test_grid_candidates_satisfy_the_constraint():
    cands = scaling.grid_candidates(target=2.0, tolerance=0.1)
    assert len(cands) == 46 and (1.2, 1.1, 1.15, pytest.approx(1.92027)) in cands
    for a, b, g, p in cands:
        assert abs(a * b * b * g * g - 2.0) <= 0.1 and p == pytest.approx(a * b * b * g * g)
    with pytest.raises(ValueError, match="no \\(alpha"):
        scaling.grid_candidates([[1.0], [1.0], [1.0]])


def test_grid_search_ranks_by_accuracy_and_measures_macs():
    grid = [[1.0, 1.2, 1.4], [1.0, 1.1], [1.0, 1.15, 1.2]]

    def evaluate(depth, width, resolution):  # stub: favours depth, then resolution
        return depth / 2 + resolution / 1000

    rows = scaling.grid_search(evaluate, grid=grid, base_resolution=64, num_classes=10, log=lambda s: None)
    expected = sorted(scaling.grid_candidates(grid), key=lambda c: -(c[0] / 2 + scaling.round_resolution(64 * c[2]) / 1000))
    assert [(r["alpha"], r["beta"], r["gamma"]) for r in rows] == [c[:3] for c in expected]
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        assert r["accuracy"] == pytest.approx(r["alpha"] / 2 + r["resolution"] / 1000)
    rows = scaling.grid_search(evaluate, grid=grid, base_resolution=64, num_classes=10, budget=2, log=lambda s: None)
    assert len(rows) == 2 and {abs(r["product"] - 2) for r in rows} == {abs(1.9203 - 2), abs(2.016 - 2)}


def test_grid_search_measured_macs_follow_the_constraint():
    """At 224 px the measured MACs over B0 are 2.23, 2.56 and 2.63 for nominal products 1.92, 2.02
    and 2.09: the reference's rounding (repeats by ceil, filters to multiples of 8) only adds."""
    grid = [[1.2, 1.4], [1.0, 1.1], [1.15, 1.2]]
    rows = scaling.grid_search(lambda d, w, r: 0.0, grid=grid, log=lambda s: None)
    assert [r["mac_ratio"] for r in sorted(rows, key=lambda r: r["product"])] == [2.2287, 2.5568, 2.6303]
    for r in rows:
        assert r["product"] <= r["mac_ratio"] < 1.3 * r["product"]


def test_mobilenetv2_from_block_strings_matches_keras():
    ours = scaling.MobileNetV2(include_preprocessing=False)
    assert ours.count_params() == 3_538_984 == keras.applications.MobileNetV2(weights=None).count_params()
    assert ours.get_layer("stem_activation").activation.__name__ == "relu6"
    assert not any("se_" in l.name for l in ours.layers)
    bigger = scaling.compound_mobilenetv2(1, include_preprocessing=False)
    assert bigger.input_shape == (None, 256, 256, 3)
    ratio = et.profile(bigger).macs / et.profile(ours).macs
    assert 1.7 < ratio < 2.6


@pytest.mark.slow
def test_scale_search_cli_trains_candidates_and_writes_table_and_plot(tmp_path, capsys, monkeypatch):
    """A real search on digits through the CLI, reduced to fit CI: 2 candidates at depth 1.0 (the
    fewest blocks to trace) x 2 epochs of 2 steps, evaluated on one batch; the default (6 x 8 full
    epochs) is timed in the README."""
    import csv
    import json

    from PIL import Image

    from efficientnet_tf.cli import build_parser, main

    defaults = build_parser().parse_args(["scale-search"])
    assert (defaults.budget, defaults.epochs, defaults.target, defaults.tolerance) == (6, 8, 2.0, 0.1)
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(tmp_path / "cache"))
    # alpha * beta^2 * gamma^2 = 1.334 exactly for (1.0, 1.05, 1.1) and (1.0, 1.1, 1.05) alone in the grid.
    assert main(["scale-search", "--budget", "2", "--epochs", "2", "--target", "1.334", "--tolerance", "0.001",
                 "--steps-per-epoch", "2", "--eval-steps", "1", "--out", str(tmp_path / "ss")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "ss" / "scale_search.csv")))
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert {(r["alpha"], r["beta"], r["gamma"]) for r in rows} == {("1.0", "1.05", "1.1"), ("1.0", "1.1", "1.05")}
    assert [r["resolution"] for r in sorted(rows, key=lambda r: r["gamma"])] == ["34", "36"]  # even pixels
    accuracies = [float(r["accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True) and all(0.0 <= a <= 1.0 for a in accuracies)
    for name in ("d1_w1.05_r36", "d1_w1.1_r34"):  # each candidate really trained, 2 epochs x 2 steps
        metrics = json.load(open(tmp_path / "ss" / name / "metrics.json"))
        assert (metrics["epochs"], metrics["steps"], metrics["examples"], metrics["image_size"]) == (2, 4, 64, int(name[-2:]))
    assert Image.open(tmp_path / "ss" / "scale_search.png").size == (600, 450)
    assert "wrote" in capsys.readouterr().out


def test_nas_objective_is_the_papers_formula():
    """ACC * (FLOPS / 400M) ** -0.07, by hand: 2 ** -0.07 = 0.952638, 4 ** 0.07 = 1.101905."""
    assert scaling.nas_objective(0.77, 400e6) == 0.77
    assert scaling.nas_objective(0.8, 800e6) == pytest.approx(0.8 * 0.952638, rel=1e-6)
    assert scaling.nas_objective(0.5, 100e6) == pytest.approx(0.5 * 1.101905, rel=1e-6)
    assert scaling.nas_objective(0.9, 2e9, target=1e9, w=-0.5) == pytest.approx(0.9 / math.sqrt(2))
    with pytest.raises(ValueError, match="flops and target must be > 0"):
        scaling.nas_objective(0.5, 0)


# Two candidates, alpha * beta^2 * gamma^2 = 1.334 each: at a 64-px base (even pixels) 70 px and width
# 1.05 count 58,429,456 MACs; 68 px and width 1.1 count 61,109,984, 4.6% more, which the NAS objective
# weighs as 1.046 ** 0.07 = 1.0032. An accuracy 1.002x higher is not worth it.
TWO = {"grid": [[1.0], [1.05, 1.1], [1.05, 1.1]], "target": 1.334, "tolerance": 0.001}


def test_grid_search_ranks_by_the_nas_objective_and_records_both():
    def evaluate(depth, width, resolution):  # 0.5 at 70 px, 0.501 at 68 px
        return 0.5 + (70 - resolution) / 2000

    kwargs = dict(TWO, base_resolution=64, num_classes=10, log=lambda s: None, resolution_multiple=2)
    by_nas = scaling.grid_search(evaluate, rank="nas", **kwargs)
    assert [(r["resolution"], r["macs"], r["accuracy"]) for r in by_nas] == [(70, 58_429_456, 0.5), (68, 61_109_984, 0.501)]
    assert [r["rank"] for r in by_nas] == [1, 2]
    for r in by_nas:
        assert r["nas_objective"] == pytest.approx(r["accuracy"] * (r["macs"] / 400e6) ** -0.07)
    assert by_nas[0]["nas_objective"] == pytest.approx(0.5 * 1.144143, rel=1e-6)  # (58.43M / 400M) ** -0.07
    with pytest.raises(ValueError, match="rank must be one of \\('accuracy', 'nas'\\)"):
        scaling.grid_search(evaluate, rank="top5", **kwargs)


def test_scale_search_cli_ranks_by_nas_and_writes_both_columns(tmp_path, capsys, monkeypatch):
    """The command's whole path with each candidate's training replaced by a stub (the real runs are
    the slow test above): ``--rank nas`` reorders the table and the CSV keeps both columns."""
    import csv

    import efficientnet_tf.training as training
    from efficientnet_tf.cli import main

    class Trained:  # 0.5 at 36 px, 0.501 at 34 px
        def __init__(self, cfg):
            self.size = cfg.model.image_size

        def train(self):
            return {"top1": 0.5 + (36 - self.size) / 2000}

    monkeypatch.setattr(training, "Trainer", Trained)
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ss"
    assert main(["scale-search", "--budget", "2", "--target", "1.334", "--tolerance", "0.001", "--rank", "nas",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "scale_search.csv")))
    assert list(rows[0])[-2:] == ["accuracy", "nas_objective"]
    assert [(r["rank"], r["resolution"], r["macs"], r["accuracy"]) for r in rows] == [
        ("1", "36", "22526576", "0.5"), ("2", "34", "23784144", "0.501")]  # by accuracy, 34 px would lead
    for r in rows:
        assert float(r["nas_objective"]) == pytest.approx(float(r["accuracy"]) * (int(r["macs"]) / 400e6) ** -0.07)
    printed = capsys.readouterr().out
    assert "NAS obj." in printed and re.search(r"^   1 +1\.0 +1\.05 +1\.1 .* 0\.5000 +0\.6115$", printed, re.MULTILINE)
