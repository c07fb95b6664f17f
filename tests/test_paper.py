"""The paper's tables, one command each (``efficientnet-tf paper TABLE``), and the baselines of Table 3
(MobileNetV1 and ResNet-50) built by the same scaling as MobileNetV2."""
import os
import re
import subprocess
import sys

import keras
import pytest

from efficientnet_tf.cli import main
from efficientnet_tf.scaling import latency, paper
from efficientnet_tf.scaling.baselines import MobileNetV1, ResNet50

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _layers(model):
    """(class, output shape, weight shapes) per layer, and the names of the layers with weights."""
    shapes = [(type(l).__name__, tuple(l.output.shape), [tuple(w.shape) for w in l.weights]) for l in model.layers]
    return shapes, [l.name for l in model.layers if l.weights]


@pytest.mark.parametrize("ours, theirs, params", [
    (MobileNetV1, keras.applications.MobileNet, 4_253_864),
    (ResNet50, keras.applications.ResNet50, 25_636_712),
])
def test_unscaled_baselines_are_keras_applications_layer_for_layer(ours, theirs, params):
    mine, keras_model = ours(), theirs(weights=None)
    assert mine.count_params() == keras_model.count_params() == params
    assert _layers(mine) == _layers(keras_model)


def test_depth_repeats_each_stage_and_width_rounds_every_conv():
    """d=1.4: ceil(1.4 n) blocks per stage; w=1.2: filters rounded as the EfficientNet builder does
    (32 -> 40, 64 -> 80, 256 -> 304, 1024 -> 1232)."""
    v1 = MobileNetV1(width=1.2, depth=1.4, resolution=64)
    assert sum(isinstance(l, keras.layers.DepthwiseConv2D) for l in v1.layers) == 2 + 3 + 3 + 9 + 3
    assert [v1.get_layer(n).filters for n in ("conv1", "conv_pw_1", "conv_pw_20")] == [40, 80, 1232]
    assert v1.output_shape == (None, 1000)
    r50 = ResNet50(width=1.2, depth=1.4, resolution=64, include_top=False)
    blocks = [len({l.name.split("_")[1] for l in r50.layers if l.name.startswith(f"conv{s}_")}) for s in (2, 3, 4, 5)]
    assert blocks == [5, 6, 9, 5]
    assert [r50.get_layer(n).filters for n in ("conv1_conv", "conv2_block1_1_conv", "conv2_block5_3_conv")] == [80, 80, 304]
    assert r50.output_shape == (None, 2, 2, 2456)


@pytest.mark.slow
def test_table3_rows_follow_the_paper():
    """Single-dimension rows within 12% of the paper's FLOPs (the worst, ResNet-50 d=4, at 0.885: depth
    leaves its stem and projections alone). Compound rows at d=1.4 w=1.2 r=1.3: MobileNetV1 0.975 of the
    paper's 2.3B; MobileNetV2 0.988 and ResNet-50 0.831, whose coefficients the paper does not state."""
    rows = paper.measure(paper.TABLES["3"])
    assert [r["macs"] for r in rows] == [
        568_740_352, 2_216_465_408, 2_271_889_408, 2_242_960_136,
        300_774_272, 1_219_587_776, 1_137_428_224, 1_199_257_088, 1_284_428_256,
        3_857_973_248, 14_339_538_944, 15_191_769_088, 15_425_748_992, 13_874_943_680,
    ]
    ratios = {r["label"]: r["macs"] / r["paper_flops"] for r in rows}
    single = {k: v for k, v in ratios.items() if "compound" not in k}
    assert len(single) == 11 and all(abs(v - 1) < 0.12 for v in single.values()), single
    compound = [round(v, 3) for k, v in ratios.items() if "compound" in k]
    assert compound == [0.975, 0.988, 0.831]
    assert [r["params"] for r in rows if r["label"].endswith("baseline")] == [4_253_864, 3_538_984, 25_636_712]
    text = paper.format_table("3", rows)
    line = next(l for l in text.splitlines() if l.startswith("ResNet-50 d=4 "))
    assert line.split() == ["ResNet-50", "d=4", "224", "90,107,624", "-", "14.340", "16.20B", "0.885", "78.1%"]
    assert "[1, 2, 2, 6, 2]" in text and len(text.splitlines()) == 3 + 14 + 5


def test_table2_rows_quote_the_paper_beside_counted_models():
    rows = paper.measure(paper.TABLES["2"][:2])
    assert [(r["label"], r["resolution"], r["params"], r["paper_top1"]) for r in rows] == [
        ("B0", 224, 5_330_571, 77.1), ("B1", 240, 7_856_239, 79.1)]
    lines = paper.format_table("2", rows).splitlines()
    assert lines[0] == "Table 2: EfficientNet B0-B7 on ImageNet (Tan & Le, 2019)."
    assert lines[1].startswith("Columns marked * are quoted from the paper")
    assert lines[3].split() == ["B0", "224", "5,330,571", "5.3M", "0.386", "0.39B", "0.989", "77.1%"]
    assert [len(t) for t in paper.TABLES.values()] == [8, 14, 4]


@pytest.mark.slow
def test_paper_7_prints_the_table_and_the_papers_accounting(capsys):
    assert main(["paper", "7"]) == 0
    out = capsys.readouterr().out
    ratios = [float(line.split()[-2]) for line in out.splitlines() if line.startswith("B0 ")]
    assert ratios == [0.875, 0.806, 0.809, 0.883]
    assert "4 x 0.39B = 1.56B" in out and "the gap is in the paper's accounting" in out


def test_latency_options_belong_to_table_4(capsys):
    assert main(["paper", "3", "--size", "32"]) == 2
    assert capsys.readouterr().err.strip() == "efficientnet-tf paper: error: --runs and --size time table 4 only"
    with pytest.raises(ValueError, match="runs must be >= 1"):
        latency.table4(runs=0)


def test_table4_needs_a_fresh_process():
    keras.ops.add(1, 1)  # TensorFlow has started in this process
    with pytest.raises(ValueError, match="time Table 4 in a fresh process"):
        latency.table4(runs=1, size=32)


def test_table4_reports_the_ratio_beside_the_papers():
    rows = [{"model": m, "resolution": r, "seconds": s, "paper_seconds": latency.PAPER_TABLE4[m]}
            for m, r, s in (("B1", 240, 0.025), ("ResNet-152", 224, 0.131), ("B7", 600, 1.5))]
    lines = latency.format_table4(rows, 20).splitlines()
    assert lines[0].startswith("Table 4: latency at batch 1 on one thread, mean of 20 runs.")
    assert lines[3:] == [
        "B1            240        25.0     0.098",
        "ResNet-152    224       131.0     0.554",
        "B7            600      1500.0     3.100",
        "ResNet-152 / B1: 5.24x here, 5.7x in the paper*",
        "B7: 1.50 s here, 3.1 s in the paper* (GPipe's 19.0 s* there is not built here)",
    ]


@pytest.mark.slow
def test_paper_4_times_b1_resnet152_and_b7_on_one_thread_at_tiny_size():
    """A fresh process, as the command runs (one thread can only be set before TensorFlow starts)."""
    done = subprocess.run([sys.executable, "-m", "efficientnet_tf", "paper", "4", "--runs", "2", "--size", "32"],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = dict(re.findall(r"^(B1|ResNet-152|B7) +32 +([\d.]+) +[\d.]+$", done.stdout, flags=re.MULTILINE))
    assert set(rows) == {"B1", "ResNet-152", "B7"} and all(float(ms) > 0 for ms in rows.values())
    ratio = float(re.search(r"^ResNet-152 / B1: ([\d.]+)x here, 5.7x in the paper\*$", done.stdout, re.MULTILINE)[1])
    # The ratio is of the unrounded latencies: it lies between the ratios the printed ones allow.
    half = {k: 0.5 * 10.0 ** -len(v.split(".")[1]) if "." in v else 0.5 for k, v in rows.items()}
    resnet, b1 = float(rows["ResNet-152"]), float(rows["B1"])
    low, high = (resnet - half["ResNet-152"]) / (b1 + half["B1"]), (resnet + half["ResNet-152"]) / (b1 - half["B1"])
    assert low - 0.005 <= ratio <= high + 0.005
    assert "mean of 2 runs" in done.stdout
