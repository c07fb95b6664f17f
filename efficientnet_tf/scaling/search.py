"""``python -m efficientnet_tf scale-search``: the paper's STEP 1, for real, with the training loop.

Each candidate (alpha, beta, gamma) near the FLOPs target trains B0 scaled to depth alpha, width beta
and resolution gamma * base for a few epochs with ``efficientnet_tf.training``, and is ranked by its
top-1 on the validation split, or by the NAS objective of that top-1 and its MACs (``rank="nas"``;
the table holds both columns either way). Writes ``scale_search.csv`` and ``scale_search.png`` (accuracy vs MACs).

Resolutions round to even pixels (32 * 1.15 -> 36), since multiples of 8 would merge most gammas
at 32 px. A few epochs per candidate rank them coarsely: the reference recipe is slow to start
from scratch (on digits B0 passes 0.5 top-1 only after ~8 epochs), so raise ``epochs`` for a
ranking you can trust.
"""
from __future__ import annotations

import os
from typing import List, Optional

from efficientnet_tf.data.config import DataConfig
from efficientnet_tf.scaling import method as scaling


def run_search(
    out_dir: str,
    dataset: str = DataConfig.dataset,
    data_dir: Optional[str] = None,
    budget: int = 6,
    epochs: int = 8,
    base_resolution: int = 32,
    target: float = 2.0,
    tolerance: float = 0.1,
    seed: int = 0,
    resolution_multiple: int = 2,
    steps_per_epoch: Optional[int] = None,
    eval_steps: Optional[int] = None,
    rank: str = "accuracy",
) -> List[dict]:
    """Ranked rows (see :func:`scaling.grid_search`); ``steps_per_epoch`` and ``eval_steps`` (None:
    whole splits) shorten each candidate's run, for a smoke test of the whole search."""
    from efficientnet_tf.data import PipelineConfig, build_dataset
    from efficientnet_tf.training import Trainer, config

    settings = PipelineConfig(data_dir=data_dir)
    num_classes = build_dataset(dataset, "validation", base_resolution, 1, training=False, config=settings)[1].num_classes
    os.makedirs(out_dir, exist_ok=True)

    def evaluate(depth: float, width: float, resolution: int) -> float:
        cfg = config.from_dict({
            "data": {"dataset": dataset, "data_dir": data_dir},
            "model": {"name": "b0", "width": width, "depth": depth, "image_size": resolution},
            "epochs": epochs, "seed": seed, "export": False, "steps_per_epoch": steps_per_epoch, "eval_steps": eval_steps,
            "model_dir": os.path.join(out_dir, f"d{depth:g}_w{width:g}_r{resolution}"),
        })
        return Trainer(config.resolve(cfg)).train()["top1"]

    rows = scaling.grid_search(evaluate, target=target, tolerance=tolerance, base_resolution=base_resolution,
                               budget=budget, num_classes=num_classes, log=lambda s: print(s, flush=True),
                               resolution_multiple=resolution_multiple, rank=rank)
    scaling.write_table(rows, os.path.join(out_dir, "scale_search.csv"))
    plot_search(rows, os.path.join(out_dir, "scale_search.png"))
    return rows


def plot_search(rows: List[dict], path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter([r["macs"] / 1e6 for r in rows], [r["accuracy"] for r in rows])
    for r in rows:
        ax.annotate(f"#{r['rank']} a{r['alpha']:g} b{r['beta']:g} g{r['gamma']:g}", (r["macs"] / 1e6, r["accuracy"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set(xlabel="multiply-adds (millions)", ylabel="validation top-1",
           title="Compound-scaling grid search (phi = 1)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
