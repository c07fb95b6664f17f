"""The paper's Tables 2, 3 and 7 as rows to build: each row's model beside the paper's FLOPs and top-1.

The paper's numbers are quoted (Tan & Le, 2019; its "FLOPS" are multiply-adds); the parameters and
multiply-adds beside them are counted here on the built model (``models.profile``). The top-1 column
is never measured: reproducing it takes ImageNet training runs.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import sys
from typing import Callable, Dict, List, Tuple

import keras

from efficientnet_tf.models.efficientnet import create_model
from efficientnet_tf.models.profile import profile
from efficientnet_tf.models.variants import PAPER_TABLE2
from efficientnet_tf.scaling.baselines import MobileNetV1, ResNet50
from efficientnet_tf.scaling.method import MobileNetV2, round_resolution, scaled_efficientnet

PAPER_TABLE2_TOP1 = {"b0": 77.1, "b1": 79.1, "b2": 80.1, "b3": 81.6, "b4": 82.9, "b5": 83.6, "b6": 84.0, "b7": 84.3}
# The one compound setting the paper states (Table 3's MobileNetV1 row, Table 7's B0 row); r=1.3 is
# 224 * 1.3 = 291 px rounded to a multiple of 8, 288.
COMPOUND = {"depth": 1.4, "width": 1.2, "resolution": round_resolution(224 * 1.3)}
COMPOUND_LABEL = "compound d=1.4 w=1.2 r=1.3"


@dataclasses.dataclass(frozen=True)
class PaperRow:
    label: str
    build: Callable[[], keras.Model]
    flops: float  # the paper's, in multiply-adds
    top1: float  # the paper's, quoted
    params: float = math.nan  # the paper's, where it gives them (Table 2)


SCALES = {"baseline": {}, "d=4": {"depth": 4}, "w=2": {"width": 2}, "r=2": {"resolution": 448}, "compound": COMPOUND}


def _rows(name: str, build: Callable[..., keras.Model], paper: Dict[str, Tuple[float, float]]) -> Tuple[PaperRow, ...]:
    """One baseline's rows, ``paper`` mapping keys of ``SCALES`` to the paper's (FLOPs, top-1)."""
    return tuple(PaperRow(f"{name} {COMPOUND_LABEL if key == 'compound' else key}",
                          functools.partial(build, **SCALES[key]), flops, top1) for key, (flops, top1) in paper.items())


TABLES: Dict[str, Tuple[PaperRow, ...]] = {
    "2": tuple(PaperRow(name.upper(), functools.partial(create_model, name), PAPER_TABLE2[name][1], top1,
                        PAPER_TABLE2[name][0]) for name, top1 in PAPER_TABLE2_TOP1.items()),
    "3": _rows("MobileNetV1", MobileNetV1, {"baseline": (0.6e9, 70.6), "w=2": (2.2e9, 74.2), "r=2": (2.2e9, 72.7),
                                            "compound": (2.3e9, 75.6)})
    + _rows("MobileNetV2", functools.partial(MobileNetV2, include_preprocessing=False),
            {"baseline": (0.3e9, 72.0), "d=4": (1.2e9, 76.8), "w=2": (1.1e9, 76.4), "r=2": (1.2e9, 74.8),
             "compound": (1.3e9, 77.4)})
    + _rows("ResNet-50", ResNet50, {"baseline": (4.1e9, 76.0), "d=4": (16.2e9, 78.1), "w=2": (14.7e9, 77.7),
                                    "r=2": (16.4e9, 77.5), "compound": (16.7e9, 78.8)}),
    "7": _rows("B0", scaled_efficientnet, {"d=4": (1.8e9, 79.0), "w=2": (1.8e9, 78.9), "r=2": (1.9e9, 79.1),
                                           "compound": (1.8e9, 81.1)}),
}
TITLES = {
    "2": "Table 2: EfficientNet B0-B7 on ImageNet",
    "3": "Table 3: scaling up MobileNets and ResNet",
    "7": "Table 7: B0 scaled by one dimension or compound to about 1.8B FLOPs",
}
NOTES = {
    "2": "Params count the input normalization layer's 7 weights, as keras.applications' totals do.",
    "3": ("Depth multiplies each stage's blocks by ceil(d * n): ResNet-50's [3, 4, 6, 3], MobileNetV2's block\n"
          "strings, and MobileNetV1's 13 separable blocks grouped at each stride 2 as [1, 2, 2, 6, 2]. Width\n"
          "rounds every conv's filters as the EfficientNet builder does. The paper states compound\n"
          "coefficients only for MobileNetV1; the MobileNetV2 and ResNet-50 compound rows use the same\n"
          "d=1.4 w=1.2 r=1.3 (288 px), so their ratio measures how far those are from the paper's own."),
    "7": ("Each row multiplies B0's FLOPs by about 4 (d=4, w=2 and r=2; compound 1.4 x 1.2^2 x 1.3^2 = 3.4\n"
          "before rounding), so by the paper's own Table 2 (B0 at 0.39B) they come to about 4 x 0.39B = 1.56B.\n"
          "The paper prints 1.8-1.9B, 15-22% above its own arithmetic: the gap is in the paper's accounting,\n"
          "not in these models."),
}


def measure(rows: Tuple[PaperRow, ...]) -> List[dict]:
    """Builds each row's model (progress on stderr) and counts its parameters and multiply-adds."""
    out = []
    for row in rows:
        p = profile(row.build())
        out.append({"label": row.label, "resolution": p.input_shape[1], "params": p.params, "macs": p.macs,
                    "paper_params": row.params, "paper_flops": row.flops, "paper_top1": row.top1})
        print(f"built {row.label}", file=sys.stderr, flush=True)
    return out


def format_table(table: str, rows: List[dict]) -> str:
    """The measured columns beside the quoted ones, the ratio MACs / paper FLOPs, and the table's note."""
    lines = [f"{TITLES[table]} (Tan & Le, 2019).",
             "Columns marked * are quoted from the paper; params and GMACs are counted here on the built model.",
             f"{'row':<40}{'res':>5}{'params':>13}{'paper*':>8}{'GMACs':>8}{'paper*':>8}{'MACs/paper':>11}{'top-1*':>8}"]
    for r in rows:
        paper_params = "-" if math.isnan(r["paper_params"]) else f"{r['paper_params'] / 1e6:.1f}M"
        lines.append(f"{r['label']:<40}{r['resolution']:>5}{r['params']:>13,}{paper_params:>8}"
                     f"{r['macs'] / 1e9:>8.3f}{r['paper_flops'] / 1e9:>7.2f}B{r['macs'] / r['paper_flops']:>11.3f}"
                     f"{r['paper_top1']:>7.1f}%")
    return "\n".join(lines + [NOTES[table]])
