"""The one training loop, for every strategy: default, Mirrored, MultiWorkerMirrored and TPU.

``model.fit`` cannot drive MultiWorkerMirroredStrategy in Keras 3.15 (keras-team/keras#20585), so the
loop is our own, as Model Garden's Orbit does: a ``tf.function`` step around ``strategy.run`` over
datasets from ``distribute_datasets_from_function``, sums reduced across replicas, a Keras Progbar,
and ``tf.train.CheckpointManager`` for three kinds of checkpoint in ``model_dir``:

- ``backup/``: mid-epoch (every ``backup_every_steps``, at each epoch end and on SIGTERM), one kept,
  deleted when the run completes. A rerun of the same command resumes from the newest of
  ``backup/`` and ``checkpoints/``; the data pipeline restarts, so the resumed epoch sees a fresh
  shuffle rather than the exact remaining batches.
- ``checkpoints/``: at each epoch end (the last good ones).
- ``best/``: whenever the EMA weights reach a new best top-1 on the per-epoch eval split
  (``minival`` when ``--holdout`` or ``--holdout-shards`` > 0, else ``validation``).

Undecodable images skipped so far are in every epoch's log line, ``history.csv`` and ``metrics.json``.

A non-finite loss raises ``Diverged`` before anything more is saved. In a multi-worker cluster each
non-chief worker writes to ``model_dir/workers/<type>-<index>`` (all workers must save together).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import time

import keras
import tensorflow as tf

from efficientnet_tf.run_dir import RunDir, newest_checkpoint
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training import models, outputs
from efficientnet_tf.training.inputs import Inputs, NoImages
from efficientnet_tf.training.ema import ExponentialMovingAverage
from efficientnet_tf.training.optimizer import batch_norm_variables, build_optimizer, l2_loss, l2_variables
from efficientnet_tf.training.schedule import WarmupDecay
from efficientnet_tf.training.strategy import (configure_cpu_devices, create_strategy, output_dir, resolve_jit,
                                               resolve_precision)


class Diverged(FloatingPointError):
    """The training loss became NaN or Inf; checkpoints and backup are left as they were."""


@contextlib.contextmanager
def _sigterm_flag():
    """Inside, SIGTERM (preemption) only sets a flag: the loop backs up and exits 0 after the step."""
    flag = {"set": False}
    previous = signal.signal(signal.SIGTERM, lambda *_: flag.update(set=True))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


class Trainer:
    def __init__(self, cfg: config_lib.TrainConfig):
        configure_cpu_devices(cfg.runtime.cpu_devices)
        self.strategy = create_strategy(cfg.runtime.strategy, cfg.runtime.tpu)
        self.precision = resolve_precision(cfg.runtime.precision, self.strategy)
        self.jit = resolve_jit(cfg.runtime.jit_compile, self.strategy)
        keras.mixed_precision.set_global_policy(self.precision)
        keras.utils.set_random_seed(cfg.seed)
        self.cfg = cfg = config_lib.resolve(cfg)
        self.out_dir = output_dir(cfg.model_dir)
        self.run = RunDir(self.out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        config_lib.save(cfg, str(self.run.config))
        print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
        print(f"recipe={cfg.recipe} strategy={type(self.strategy).__name__} replicas={self.strategy.num_replicas_in_sync} "
              f"precision={self.precision} jit_compile={self.jit} output={self.out_dir}", flush=True)

        self.inputs = Inputs(cfg, self.strategy)
        self.inputs.log()
        self.info, self.eval_split = self.inputs.info, self.inputs.eval_split
        self.steps_per_epoch = cfg.steps_per_epoch or max(1, self.info.num_examples // cfg.batch_size)
        opt = cfg.optimizer
        self.schedule = WarmupDecay(opt.base_lr * cfg.batch_size / 256, self.steps_per_epoch, opt.warmup_epochs,
                                    opt.schedule, opt.decay_rate, opt.decay_epochs, cfg.epochs)
        with self.strategy.scope():
            self.model = models.build_model(cfg, self.info.num_classes)
            for layer in self.model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = cfg.model.sync_bn
                    layer.momentum = cfg.model.bn_momentum or layer.momentum
            self.optimizer = build_optimizer(opt, self.schedule, self.precision)
            self.optimizer.build(self.model.trainable_variables)
            self.ema = ExponentialMovingAverage(self.model, opt.ema_decay) if opt.ema_decay > 0 else None
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.best = tf.Variable(-1.0, dtype=tf.float32, trainable=False, name="best_top1")
        state = dict(model=self.model, optimizer=self.optimizer, step=self.step, best=self.best)
        if self.ema:
            state.update(ema=self.ema.shadows, ema_updates=self.ema.num_updates)
        self.checkpoint = tf.train.Checkpoint(**state)
        self.managers = self.run.checkpoint_managers(self.checkpoint)
        self._train_step = self._make_train_step()
        self._eval_step = self._make_eval_step()
        self._sync_statistics = self._make_sync_statistics()

    # -- steps ---------------------------------------------------------------------------------
    def _batch_stats(self, per_example_loss, probs, labels):
        """Per-replica sums; reduced with SUM they give exact global means, even for uneven batches.

        Soft (mixup/cutmix) labels count as their dominant class for top-1 and top-5.
        """
        probs = tf.cast(probs, tf.float32)
        if labels.shape.rank == 2:
            labels = tf.argmax(labels, -1, output_type=tf.int32)
        k = min(5, self.info.num_classes)
        return {"loss_sum": tf.reduce_sum(per_example_loss),
                "correct": tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), labels), tf.float32)),
                "correct5": tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, probs, k), tf.float32)),
                "count": tf.cast(tf.shape(labels)[0], tf.float32)}

    def _reduce(self, stats):
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in stats.items()}

    def _make_train_step(self):
        cfg, model, optimizer = self.cfg, self.model, self.optimizer
        loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.optimizer.label_smoothing, reduction=None)
        decay_vars = l2_variables(model)
        replicas = self.strategy.num_replicas_in_sync

        def replica_step(images, labels):
            with tf.GradientTape() as tape:
                probs = model(images, training=True)
                targets = labels if labels.shape.rank == 2 else tf.one_hot(labels, self.info.num_classes)
                per_example = loss_fn(targets, probs)
                l2 = l2_loss(decay_vars, cfg.optimizer.weight_decay) / replicas
                loss = tf.nn.compute_average_loss(per_example) + l2
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return {**self._batch_stats(per_example, probs, labels), "l2": l2}

        if self.jit:
            replica_step = tf.function(replica_step, jit_compile=True)

        @tf.function
        def train_step(iterator):
            stats = self._reduce(self.strategy.run(replica_step, args=next(iterator)))
            if self.ema:
                self.ema.update()
            return stats
        return train_step

    def _make_sync_statistics(self):
        """Averages BN moving statistics (and their EMA) over all replicas, before every eval and save.

        Keras updates them per replica, so without synchronized BN each replica, and each worker,
        drifts apart; averaging makes every worker evaluate and save the same weights.
        """
        if self.strategy.num_replicas_in_sync == 1 or self.cfg.model.sync_bn:
            return lambda: None
        stats = [v.value for v in batch_norm_variables(self.model) if not v.trainable]
        stats += self.ema.statistics_shadows if self.ema else []

        def replica_fn():
            means = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v) for v in stats])
            for var, mean in zip(stats, means):
                var.assign(mean)
        return tf.function(lambda: self.strategy.run(replica_fn))

    def _make_eval_step(self):
        model, num_classes = self.model, self.info.num_classes

        def replica_step(images, labels):
            probs = model(images, training=False)
            per_example = keras.losses.categorical_crossentropy(tf.one_hot(labels, num_classes), tf.cast(probs, tf.float32))
            return self._batch_stats(per_example, probs, labels)

        return tf.function(lambda batch: self._reduce(self.strategy.run(replica_step, args=batch)),
                           jit_compile=self.jit)

    def evaluate(self, split):
        """Top-1, top-5 and cross-entropy on ``split`` with the EMA weights swapped in."""
        totals = {}
        self._sync_statistics()
        self.inputs.forget(split)
        with self.ema.swapped() if self.ema else contextlib.nullcontext():
            for i, batch in enumerate(self.inputs.distributed(split, training=False)):
                if self.cfg.eval_steps and i >= self.cfg.eval_steps:
                    break
                for k, v in self._eval_step(batch).items():
                    totals[k] = totals.get(k, 0.0) + float(v)
        n, skipped = totals.get("count", 0.0), self.inputs.skipped(split)
        if not n:
            raise NoImages(f"no {split!r} image of {self.cfg.data.dataset} could be decoded ({skipped} skipped)")
        return {"top1": totals["correct"] / n, "top5": totals["correct5"] / n, "loss": totals["loss_sum"] / n,
                "examples": int(n), "skipped": skipped}

    # -- the loop ------------------------------------------------------------------------------
    def _restore(self) -> int:
        path = newest_checkpoint(self.managers)
        if path:
            self.checkpoint.restore(path).assert_existing_objects_matched()
            print(f"Resumed from {path} at step {int(self.step.numpy())}", flush=True)
        return int(self.step.numpy())

    def _save(self, *names):
        self._sync_statistics()
        for name in names:
            self.managers[name].save(checkpoint_number=self.step)

    def train(self):
        """Runs the remaining epochs; returns final metrics, or None when stopped by SIGTERM."""
        with _sigterm_flag() as sigterm:
            return self._train(sigterm)

    def _train(self, sigterm):
        cfg, spe = self.cfg, self.steps_per_epoch
        step = self._restore()
        epoch = step // spe
        history_path = str(self.run.history)
        history = [r for r in outputs.read_history(history_path) if r["epoch"] <= epoch]
        writers = {k: tf.summary.create_file_writer(str(self.run.logs(k))) for k in ("train", "eval")}
        iterator = iter(self.inputs.distributed("train", training=True))
        while epoch < cfg.epochs:
            progbar = keras.utils.Progbar(spe, stateful_metrics=["lr"])
            print(f"Epoch {epoch + 1}/{cfg.epochs}", flush=True)
            start_step, sums, t0 = step, {}, time.time()
            while step < (epoch + 1) * spe:
                lr = float(self.schedule(self.optimizer.iterations))
                stats = self._next_stats(iterator)
                loss = stats["loss_sum"] / stats["count"] + stats["l2"]
                if not math.isfinite(loss):
                    raise Diverged(f"loss {loss} at step {step + 1}; checkpoints in {self.out_dir} are left as they were")
                step += 1
                self.step.assign(step)
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                progbar.update(step - epoch * spe, [("loss", loss), ("top1", stats["correct"] / stats["count"]), ("lr", lr)])
                if sigterm["set"]:
                    self._save("backup")
                    print(f"SIGTERM: backed up at step {step}, exiting", flush=True)
                    return None
                if step % cfg.backup_every_steps == 0:
                    self._save("backup")
            seconds = time.time() - t0
            epoch += 1
            ev = self.evaluate(self.eval_split)
            row = {"epoch": epoch, "step": step, "lr": lr, "loss": sums["loss_sum"] / sums["count"] + sums["l2"] / (step - start_step),
                   "top1": sums["correct"] / sums["count"], "images_per_sec": sums["count"] / seconds, "seconds": seconds,
                   "skipped": self.inputs.skipped("train"), **{f"eval_{k}": v for k, v in ev.items() if k != "examples"}}
            history.append(row)
            self._log_epoch(row, writers)
            outputs.write_history(history_path, history)
            if ev["top1"] > float(self.best.numpy()):
                self.best.assign(ev["top1"])
                self._save("best")
            self._save("checkpoints", "backup")
        return self._finish(history)

    def _next_stats(self, iterator):
        try:
            return {k: float(v) for k, v in self._train_step(iterator).items()}
        except tf.errors.OutOfRangeError:  # the repeated train split is empty: nothing decoded
            raise NoImages(f"no training image of {self.cfg.data.dataset} could be decoded "
                           f"({self.inputs.skipped('train')} skipped)") from None

    def _log_epoch(self, row, writers):
        outputs.write_scalars(writers["train"], int(row["epoch"]), {k: v for k, v in row.items() if not k.startswith("eval_")})
        outputs.write_scalars(writers["eval"], int(row["epoch"]), {k[5:]: v for k, v in row.items() if k.startswith("eval_")})
        print(f"epoch {int(row['epoch'])}/{self.cfg.epochs}: loss {row['loss']:.4f} top1 {row['top1']:.4f} "
              f"| {self.eval_split} loss {row['eval_loss']:.4f} top1 {row['eval_top1']:.4f} top5 {row['eval_top5']:.4f} "
              f"| lr {row['lr']:.5f} | {row['images_per_sec']:.1f} images/s, {row['seconds']:.1f} s "
              f"| skipped {int(row['skipped'])} train, {int(row['eval_skipped'])} {self.eval_split}", flush=True)

    def _finish(self, history):
        final = self.evaluate("validation")
        # The median over epochs: the first epoch of each process also pays for tracing the step.
        metrics = {**final, "split": "validation", "epochs": len(history), "steps": int(self.step.numpy()),
                   "images_per_sec": statistics.median(r["images_per_sec"] for r in history) if history else 0.0,
                   "best_eval_top1": float(self.best.numpy()), "model": self.cfg.model.name, "dataset": self.cfg.data.dataset,
                   "image_size": self.cfg.model.image_size, "precision": self.precision,
                   "replicas": self.strategy.num_replicas_in_sync, "train_skipped": self.inputs.skipped("train")}
        outputs.write_json(str(self.run.metrics), metrics)
        if history:
            outputs.plot_curves(str(self.run.curves), history)
        if self.cfg.export:
            self.export()
        shutil.rmtree(self.run.checkpoints("backup"), ignore_errors=True)
        print(f"Held-out ({metrics['split']}, {metrics['examples']} images, {metrics['skipped']} skipped) "
              f"top-1 {metrics['top1']:.4f} top-5 {metrics['top5']:.4f} loss {metrics['loss']:.4f}", flush=True)
        return metrics

    def export(self):
        """model.keras and saved_model/ holding the EMA weights (see :func:`models.export_run`).

        The export builds its copy under float32; the run's global dtype policy is put back after it.
        """
        policy = keras.mixed_precision.global_policy()
        try:
            models.export_run(self.cfg, self.model, self.ema, self.info, self.out_dir)
        finally:
            keras.mixed_precision.set_global_policy(policy)
