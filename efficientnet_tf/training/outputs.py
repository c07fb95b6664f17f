"""Run artefacts in model_dir: history.csv (one row per epoch), metrics.json and training_curves.png,
written through ``tf.io.gfile`` so that model_dir may be a URL."""
from __future__ import annotations

import csv
import io
import json
from typing import Dict, List

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from efficientnet_tf import files

# TensorBoard's scalar-plugin tag, written with the core op: tf.summary.scalar needs the
# tensorboard package, which TensorFlow 2.21 no longer installs.
_SCALAR = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def read_history(path: str) -> List[Dict[str, float]]:
    """Rows of an earlier (interrupted) run, so a resumed run's history stays complete."""
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        rows = csv.DictReader(io.StringIO(f.read(), newline=""))
        return [{k: float(v) for k, v in row.items() if v != ""} for row in rows]


def write_history(path: str, rows: List[Dict[str, float]]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows({k: f"{v:.8g}" for k, v in row.items()} for row in rows)
    files.write(path, text.getvalue())


def write_scalars(writer, step: int, scalars: Dict[str, float]) -> None:
    """One TensorBoard scalar per item at ``step``."""
    with writer.as_default(step=step):
        for tag, value in scalars.items():
            tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_SCALAR)
    writer.flush()


def write_json(path: str, data: Dict) -> None:
    files.write(path, json.dumps(data, indent=2, sort_keys=True))


def plot_curves(path: str, rows: List[Dict[str, float]]) -> None:
    """Loss and top-1 per epoch, train and eval side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "top1")):
        for prefix in ("", "eval_"):
            key = prefix + metric
            if any(key in r for r in rows):
                ax.plot(epochs, [r.get(key, float("nan")) for r in rows], marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    png = io.BytesIO()  # matplotlib writes local files only
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    files.write(path, png.getvalue())
