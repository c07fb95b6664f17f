"""The trainer: strategy, precision, data, model, optimizer and checkpoint state for one run.

``model.fit`` cannot drive MultiWorkerMirroredStrategy in Keras 3.15 (keras-team/keras#20585), so the
loop is our own, as Model Garden's Orbit does: N-step ``tf.function`` loops around ``strategy.run``
over datasets from ``distribute_datasets_from_function`` (:mod:`~efficientnet_tf.training.steps`),
run epoch by epoch by :mod:`~efficientnet_tf.training.loop`, with the run directory's layout from
:mod:`efficientnet_tf.run_dir`. In a multi-worker cluster each non-chief worker writes to
``model_dir/workers/<type>-<index>`` (all workers must save together).
"""
from __future__ import annotations

import json
from typing import Callable, Optional

import keras
import tensorflow as tf

from efficientnet_tf.run_dir import RunDir
from efficientnet_tf.training import config as config_lib
from efficientnet_tf.training import build
from efficientnet_tf.training.ema import ExponentialMovingAverage
from efficientnet_tf.training.inputs import Inputs
from efficientnet_tf.training.loop import Diverged, Loop, State
from efficientnet_tf.training.optimizer import build_optimizer
from efficientnet_tf.training.schedule import WarmupDecay
from efficientnet_tf.training.steps import Steps
from efficientnet_tf.training.strategy import (configure_cpu_devices, create_strategy, output_dir, resolve_jit,
                                               resolve_precision, resolve_steps_per_loop)

__all__ = ["Diverged", "Trainer"]


class Trainer:
    """One run, from a resolved config (:func:`config.resolve`). ``wrap_train``: see :class:`Inputs`."""

    def __init__(self, cfg: config_lib.TrainConfig,
                 wrap_train: Optional[Callable[[tf.data.Dataset], tf.data.Dataset]] = None):
        if not config_lib.is_resolved(cfg):
            raise ValueError("Trainer takes a resolved config: pass config.resolve(cfg)")
        self.cfg = cfg
        configure_cpu_devices(cfg.runtime.cpu_devices)
        self.strategy = create_strategy(cfg.runtime.strategy, cfg.runtime.tpu)
        self.precision = resolve_precision(cfg.runtime.precision, self.strategy)
        self.jit = resolve_jit(cfg.runtime.jit_compile, self.strategy)
        keras.utils.set_random_seed(cfg.seed)
        self.out_dir = output_dir(cfg.model_dir)
        self.run = RunDir(self.out_dir)
        tf.io.gfile.makedirs(self.out_dir)
        config_lib.save(cfg, self.run.config)
        print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
        print(f"recipe={cfg.recipe} strategy={type(self.strategy).__name__} replicas={self.strategy.num_replicas_in_sync} "
              f"precision={self.precision} jit_compile={self.jit} output={self.out_dir}", flush=True)

        self.inputs = Inputs(cfg, self.strategy, wrap_train)
        self.inputs.log()
        self.info, self.eval_split = self.inputs.info, self.inputs.eval_split
        self.steps_per_epoch = cfg.steps_per_epoch or max(1, self.info.num_examples // cfg.batch_size)
        self.steps_per_loop = resolve_steps_per_loop(cfg.steps_per_loop, self.strategy, self.steps_per_epoch)
        print(f"steps_per_epoch={self.steps_per_epoch} steps_per_loop={self.steps_per_loop}", flush=True)
        self._build_state()
        train_model = build.any_size(self.model) if cfg.progressive.stages > 1 else self.model
        self.steps = Steps(self.strategy, self.model, self.optimizer, self.ema, self.info.num_classes, cfg, self.jit,
                           train_model)

    def _build_state(self):
        """The model (in the run's precision), optimizer, EMA and counters, and the checkpoint of them all."""
        cfg, opt = self.cfg, self.cfg.optimizer
        self.schedule = WarmupDecay(opt.base_lr * cfg.batch_size / 256, self.steps_per_epoch, opt.warmup_epochs,
                                    opt.schedule, opt.decay_rate, opt.decay_epochs, cfg.epochs)
        with self.strategy.scope():
            self.model = build.build_model(cfg, self.info.num_classes, self.precision)
            for layer in self.model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = cfg.model.sync_bn
                    layer.momentum = cfg.model.bn_momentum or layer.momentum
            self.optimizer = build_optimizer(opt, self.schedule, self.precision)
            self.optimizer.build(self.model.trainable_variables)
            self.ema = ExponentialMovingAverage(self.model, opt.ema_decay) if opt.ema_decay > 0 else None
            step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            best = tf.Variable(-1.0, dtype=tf.float32, trainable=False, name="best_top1")
            skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_skipped")
        # The dropout and stochastic-depth seed states too, so a resumed run draws the same masks.
        weights = {id(v) for v in self.model.weights}
        seeds = [v for v in self.model.variables if id(v) not in weights]
        saved = dict(model=self.model, optimizer=self.optimizer, step=step, best=best, skipped=skipped, seeds=seeds)
        if self.ema:
            saved.update(ema=self.ema.shadows, ema_updates=self.ema.num_updates)
        checkpoint = tf.train.Checkpoint(**saved)
        self.state = State(step, best, skipped, checkpoint, self.run.checkpoint_managers(checkpoint))

    def _loop(self) -> Loop:
        return Loop(self.cfg, self.inputs, self.steps, self.state, self.run, steps_per_epoch=self.steps_per_epoch,
                    steps_per_loop=self.steps_per_loop, export=self.export if self.cfg.export else None)

    def train(self):
        """Runs the remaining epochs; returns final metrics, or None when stopped by SIGTERM."""
        return self._loop().run()

    def evaluate(self, split):
        """Top-1, top-5 and cross-entropy on ``split`` with the EMA weights swapped in."""
        return self._loop().evaluate(split)

    def export(self):
        """model.keras and saved_model/ holding the EMA weights (see :func:`build.export_run`)."""
        build.export_run(self.cfg, self.model, self.ema, self.info, self.out_dir)
