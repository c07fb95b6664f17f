"""Epochs of N-step loops: evaluation, checkpoints, SIGTERM and exact resume.

Each host call runs ``steps_per_loop`` steps (:mod:`efficientnet_tf.training.steps`); loops end at
epoch ends, so backups, SIGTERM and the progress bar all land on loop boundaries. Three kinds of
checkpoint live in the run directory (:mod:`efficientnet_tf.run_dir`):

- ``backup/``: at the first loop boundary after every ``backup_every_steps`` steps, at each epoch
  end and on SIGTERM; deleted when the run completes. A rerun of the same command resumes from the
  newest of ``backup/`` and ``checkpoints/``, in the epoch it stopped in, with the batches that
  epoch had not yet trained on (see :mod:`efficientnet_tf.training.inputs`).
- ``checkpoints/``: at each epoch end (the last good ones).
- ``best/``: whenever the EMA weights reach a new best top-1 on the per-epoch eval split.

Each epoch's log line and ``history.csv`` row count the undecodable images its batches passed over
(those of its own pass: the whole split once its batches reach past the pass's end), and the eval
split's; ``metrics.json``'s ``train_skipped`` is their sum over the epochs. The batches carry the
counts (:mod:`efficientnet_tf.training.inputs`), and the epoch's running count is checkpointed, so a
resumed epoch reports what it skipped before the stop as well.

A non-finite loss raises :class:`Diverged` after its loop, before anything more is saved: the
checkpoints and backup are as they were before that loop.
"""
from __future__ import annotations

import contextlib
import dataclasses
import signal
import statistics
import time
from typing import Callable, Dict, Optional

import keras
import tensorflow as tf

from efficientnet_tf import files
from efficientnet_tf.run_dir import RunDir, newest_checkpoint
from efficientnet_tf.training import outputs, progressive
from efficientnet_tf.training.config import TrainConfig
from efficientnet_tf.training.inputs import Inputs, NoImages
from efficientnet_tf.training.steps import STATS, Steps


class Diverged(FloatingPointError):
    """The training loss became NaN or Inf; checkpoints and backup are left as they were."""


@contextlib.contextmanager
def sigterm_flag():
    """Inside, SIGTERM (preemption) only sets a flag: the loop backs up and exits 0 after its loop."""
    flag = {"set": False}
    previous = signal.signal(signal.SIGTERM, lambda *_: flag.update(set=True))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclasses.dataclass
class State:
    """What the checkpoints hold and where they go: the step and best eval top-1 counters, the
    checkpoint of the whole run, and its managers (``backup``, ``checkpoints``, ``best``)."""

    step: tf.Variable
    best: tf.Variable
    skipped: tf.Variable  # undecodable images met so far in the current epoch
    checkpoint: tf.train.Checkpoint
    managers: Dict[str, tf.train.CheckpointManager]


class Loop:
    """Runs a run's remaining epochs with the datasets (``inputs``), the compiled ``steps`` (which
    hold the model and its EMA), the checkpointed ``state`` and the ``run`` directory it is given;
    ``export``, if given, writes the model once the run is complete."""

    def __init__(self, cfg: TrainConfig, inputs: Inputs, steps: Steps, state: State, run: RunDir, *,
                 steps_per_epoch: int, steps_per_loop: int, export: Optional[Callable[[], None]] = None):
        self.cfg, self.inputs, self.steps, self.state, self.run_dir = cfg, inputs, steps, state, run
        self.spe, self.steps_per_loop, self.export = steps_per_epoch, steps_per_loop, export
        self.stages = progressive.Stages(cfg, steps.model, steps)

    def run(self):
        """Final metrics, or None when stopped by SIGTERM (backed up)."""
        run, spe = self.run_dir, self.spe
        step = self._restore()
        history = [r for r in outputs.read_history(str(run.history)) if r["epoch"] <= step // spe]
        writers = {k: tf.summary.create_file_writer(str(run.logs(k))) for k in ("train", "eval")}
        with sigterm_flag() as sigterm:
            while step < self.cfg.epochs * spe:
                epoch = step // spe
                print(f"Epoch {epoch + 1}/{self.cfg.epochs}", flush=True)
                row = self._epoch(epoch, step, sigterm)
                if row is None:
                    return None
                step = (epoch + 1) * spe
                self._end_epoch(row, history, writers)
        return self._finish(history)

    def _epoch(self, epoch, step, sigterm):
        """Trains ``epoch`` from ``step`` on; its history row, or None after SIGTERM."""
        spe, end = self.spe, (epoch + 1) * self.spe
        stage = self.stages.enter(epoch)
        iterator = self.inputs.train_batches(epoch, step - epoch * spe, stage)
        progbar = keras.utils.Progbar(spe, stateful_metrics=["lr"])
        sums, t0, start = {}, time.time(), step
        if step == epoch * spe:
            self.state.skipped.assign(0)
        while step < end:
            out = self._train_loop(iterator, min(self.steps_per_loop, end - step))
            if out["bad_step"] >= 0:
                raise Diverged(f"loss {out['bad_loss']} at step {step + out['bad_step'] + 1}; "
                               f"checkpoints in {self.run_dir.root} are left as they were")
            previous, step = step, step + out["steps"]
            self.state.step.assign(step)
            self.state.skipped.assign_add(int(out["skipped"]))
            for k in STATS:
                sums[k] = sums.get(k, 0.0) + out[k]
            progbar.update(step - epoch * spe, [("loss", out["loss_sum"] / out["count"] + out["l2"] / out["steps"]),
                                                ("top1", out["correct"] / out["count"]), ("lr", out["lr"])])
            if sigterm["set"]:
                self._save("backup")
                print(f"SIGTERM: backed up at step {step}, exiting", flush=True)
                return None
            if step // self.cfg.backup_every_steps > previous // self.cfg.backup_every_steps and step < end:
                self._save("backup")
        seconds = time.time() - t0
        return {"epoch": epoch + 1, "step": step, "lr": out["lr"],
                "loss": sums["loss_sum"] / sums["count"] + sums["l2"] / (step - start),
                "top1": sums["correct"] / sums["count"], "images_per_sec": sums["count"] / seconds,
                "seconds": seconds, "skipped": int(self.state.skipped.numpy()), **stage.row()}

    def _train_loop(self, iterator, steps):
        try:
            return self.steps.train_loop(iterator, steps)
        except tf.errors.OutOfRangeError:  # the endless train stream is empty: nothing decoded
            # No batch came, so no skip count came with one to quote.
            raise NoImages(f"no training image of {self.cfg.data.dataset} could be decoded: "
                           "every one was skipped") from None

    def _end_epoch(self, row, history, writers):
        ev = self.evaluate(self.inputs.eval_split)
        row.update({f"eval_{k}": v for k, v in ev.items() if k != "examples"})
        history.append(row)
        self._log_epoch(row, writers)
        outputs.write_history(str(self.run_dir.history), history)
        if ev["top1"] > float(self.state.best.numpy()):
            self.state.best.assign(ev["top1"])
            self._save("best")
        self._save("checkpoints", "backup")

    def evaluate(self, split):
        """Top-1, top-5 and cross-entropy on ``split`` with the EMA weights swapped in; one host read."""
        totals, ema = {}, self.steps.ema
        self.steps.sync_statistics()
        with ema.swapped() if ema else contextlib.nullcontext():
            for i, batch in enumerate(self.inputs.eval_batches(split)):
                if self.cfg.eval_steps and i >= self.cfg.eval_steps:
                    break
                for k, v in self.steps.eval_step(batch).items():
                    totals[k] = totals[k] + v if k in totals else v
        totals = {k: float(v) for k, v in totals.items()}
        n, skipped = totals.get("count", 0.0), int(totals.get("skipped", 0.0))
        if not n:
            raise NoImages(f"no {split!r} image of {self.cfg.data.dataset} could be decoded ({skipped} skipped)")
        return {"top1": totals["correct"] / n, "top5": totals["correct5"] / n, "loss": totals["loss_sum"] / n,
                "examples": int(n), "skipped": skipped}

    def _restore(self) -> int:
        state = self.state
        path = newest_checkpoint(state.managers)
        if path:
            state.checkpoint.restore(path).assert_existing_objects_matched()
            step = int(state.step.numpy())
            print(f"Resumed from {path} at step {step} (epoch {step // self.spe + 1}, "
                  f"{step % self.spe} of its {self.spe} steps done)", flush=True)
        return int(state.step.numpy())

    def _save(self, *names):
        self.steps.sync_statistics()
        for name in names:
            self.state.managers[name].save(checkpoint_number=self.state.step)

    def _log_epoch(self, row, writers):
        outputs.write_scalars(writers["train"], int(row["epoch"]), {k: v for k, v in row.items() if not k.startswith("eval_")})
        outputs.write_scalars(writers["eval"], int(row["epoch"]), {k[5:]: v for k, v in row.items() if k.startswith("eval_")})
        split = self.inputs.eval_split
        print(f"epoch {int(row['epoch'])}/{self.cfg.epochs}: loss {row['loss']:.4f} top1 {row['top1']:.4f} "
              f"| {split} loss {row['eval_loss']:.4f} top1 {row['eval_top1']:.4f} top5 {row['eval_top5']:.4f} "
              f"| {progressive.describe(row, len(self.stages.all))} | lr {row['lr']:.5f} | {row['images_per_sec']:.1f} images/s, {row['seconds']:.1f} s "
              f"| skipped {int(row['skipped'])} train, {int(row['eval_skipped'])} {split}", flush=True)

    def _finish(self, history):
        run, steps = self.run_dir, self.steps
        final = self.evaluate("validation")
        # The median over epochs: the first epoch of each process also pays for tracing the loop.
        metrics = {**final, "split": "validation", "epochs": len(history), "steps": int(self.state.step.numpy()),
                   "images_per_sec": statistics.median(r["images_per_sec"] for r in history) if history else 0.0,
                   "best_eval_top1": float(self.state.best.numpy()), "model": self.cfg.model.name,
                   "dataset": self.cfg.data.dataset, "image_size": self.cfg.model.image_size,
                   "precision": steps.model.dtype_policy.name, "replicas": steps.strategy.num_replicas_in_sync,
                   "train_skipped": sum(int(r["skipped"]) for r in history), "steps_per_loop": self.steps_per_loop,
                   "train_calls": steps.train_calls}
        outputs.write_json(run.metrics, metrics)
        if history:
            outputs.plot_curves(run.curves, history)
        if self.export:
            self.export()
        files.remove(run.checkpoints("backup"))
        print(f"Held-out ({metrics['split']}, {metrics['examples']} images, {metrics['skipped']} skipped) "
              f"top-1 {metrics['top1']:.4f} top-5 {metrics['top5']:.4f} loss {metrics['loss']:.4f}", flush=True)
        return metrics
