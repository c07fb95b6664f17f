"""The variants' table: measured parameters and multiply-adds next to the paper's Table 2 (B0-B7) and
the V2 paper's Table 7 (V2-S, M, L); other variants have no paper row and show "-"."""
from __future__ import annotations

import math
import sys
from typing import Iterable, List

from efficientnet_tf.models.efficientnet import create_model
from efficientnet_tf.models.profile import profile
from efficientnet_tf.models.v2_family import PAPER_TABLE7
from efficientnet_tf.models.variants import PAPER_TABLE2, get_variant

PAPER = {**PAPER_TABLE2, **{name: (params, flops) for name, (_, params, flops) in PAPER_TABLE7.items()}}


def summary_rows(variants: Iterable[str]) -> List[dict]:
    rows = []
    for name in variants:
        v = get_variant(name)
        p = profile(create_model(v.name))
        paper_params, paper_macs = PAPER.get(v.name, (float("nan"), float("nan")))
        rows.append({
            "model": v.name, "resolution": v.resolution, "params": p.params, "macs": p.macs,
            "paper_params": paper_params, "paper_macs": paper_macs,
        })
        print(f"built {v.name} at {v.resolution} px", file=sys.stderr, flush=True)
    return rows


def format_table(rows: List[dict]) -> str:
    lines = [f"{'model':<6}{'res':>5}{'params':>14}{'paper':>8}{'GMACs':>9}{'paper':>8}{'MACs/paper':>12}"]
    for r in rows:
        if math.isnan(r["paper_macs"]):
            paper = f"{'-':>8}{r['macs'] / 1e9:>9.3f}{'-':>8}{'-':>12}"
        else:
            paper = (f"{r['paper_params'] / 1e6:>7.1f}M{r['macs'] / 1e9:>9.3f}{r['paper_macs'] / 1e9:>7.2f}B"
                     f"{r['macs'] / r['paper_macs']:>12.3f}")
        lines.append(f"{r['model']:<6}{r['resolution']:>5}{r['params']:>14,}{paper}")
    return "\n".join(lines)


def plot_summary(rows: List[dict], path) -> str:
    """Params vs multiply-adds, log-log, measured beside the paper's Table 2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot([r["macs"] / 1e9 for r in rows], [r["params"] / 1e6 for r in rows], "o-", label="efficientnet_tf (measured)")
    ax.plot([r["paper_macs"] / 1e9 for r in rows], [r["paper_params"] / 1e6 for r in rows], "x--", label="paper, Table 2")
    for r in rows:
        ax.annotate(r["model"].upper(), (r["macs"] / 1e9, r["params"] / 1e6), textcoords="offset points", xytext=(5, -10))
    ax.set(xscale="log", yscale="log", xlabel="multiply-adds (billions)", ylabel="parameters (millions)",
           title="EfficientNet: size vs compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
