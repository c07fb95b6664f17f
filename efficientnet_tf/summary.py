"""The B0-B7 table: measured parameters and multiply-adds next to the paper's Table 2."""
from __future__ import annotations

import sys

from typing import Iterable, List

from efficientnet_tf.model import create_model
from efficientnet_tf.profile import profile
from efficientnet_tf.variants import PAPER_TABLE2, get_variant


def summary_rows(variants: Iterable[str]) -> List[dict]:
    rows = []
    for name in variants:
        v = get_variant(name)
        p = profile(create_model(v.name))
        paper_params, paper_macs = PAPER_TABLE2.get(v.name, (float("nan"), float("nan")))
        rows.append({
            "model": v.name, "resolution": v.resolution, "params": p.params, "macs": p.macs,
            "paper_params": paper_params, "paper_macs": paper_macs,
        })
        print(f"built {v.name} at {v.resolution} px", file=sys.stderr, flush=True)
    return rows


def summary_table(variants: Iterable[str]) -> str:
    lines = [
        f"{'model':<6}{'res':>5}{'params':>14}{'paper':>8}{'GMACs':>9}{'paper':>8}{'MACs/paper':>12}",
    ]
    for r in summary_rows(variants):
        lines.append(
            f"{r['model']:<6}{r['resolution']:>5}{r['params']:>14,}{r['paper_params'] / 1e6:>7.1f}M"
            f"{r['macs'] / 1e9:>9.3f}{r['paper_macs'] / 1e9:>7.2f}B{r['macs'] / r['paper_macs']:>12.3f}"
        )
    return "\n".join(lines)
