"""The replicated functions: the N-step train loop, the eval step and the BN-statistics sync.

The train loop runs ``n`` steps inside one ``tf.function`` over the distributed iterator (Orbit's
``steps_per_loop``, Keras' ``steps_per_execution``): the statistics are summed on the device and
read by the host once per loop, and the learning rate is read from the optimizer inside it. The
first non-finite loss is recorded with tensor ops, never read per step, and the host raises after
the loop. The train step runs ``train_model``, which shares every layer of ``model`` (a view that
takes any image size, for progressive learning) or is ``model`` itself.

Everything per replica happens inside ``strategy.run``: the forward and backward pass, the loss-scale
agreement, the optimizer update and the EMA. XLA compiles only functions that run on one device
(:data:`JIT_MODES`); one holding ``strategy.run`` or a cross-replica reduce spans devices, which an
XLA cluster cannot (tensorflow#53140).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from efficientnet_tf.training.optimizer import batch_norm_variables, l2_loss, l2_variables

# "skipped" sums the undecodable images each batch carries (``build_dataset(count_skips=True)``).
STATS = ("loss_sum", "correct", "correct5", "count", "l2", "skipped")
# What XLA compiles: "step", the whole replica step with its optimizer update (one replica); "grads",
# the forward and backward pass only (several replicas: the update all-reduces through merge_call,
# which XLA cannot hold); "off" (CPU, where XLA is slower, and TPU, which compiles the whole loop).
JIT_MODES = ("off", "step", "grads")


def compiled(fn):
    """``fn`` compiled by XLA, to be called inside ``strategy.run``. The call goes through a Python
    function: ``strategy.run`` given the compiled function itself runs it for every replica on the
    first device, which cannot reach the other replicas' variables."""
    xla = tf.function(fn, jit_compile=True)
    return lambda *args: xla(*args)


def agree_on_overflow(optimizer, grads):
    """``grads`` with the first one made NaN on every replica when any replica's gradients are not
    finite: a LossScaleOptimizer then skips the step and halves its scale on all of them. Keras reads
    the finite flag of replica 0 alone (it expects summed gradients), so an overflow on another
    replica would otherwise be applied there and spread by the all-reduce."""
    finite = optimizer.check_finite(grads)
    overflowed = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32))
    first = next(i for i, g in enumerate(grads) if g is not None)
    poison = tf.where(overflowed > 0, tf.constant(float("nan"), grads[first].dtype), tf.ones([], grads[first].dtype))
    return grads[:first] + [grads[first] * poison] + grads[first + 1:]


class Steps:
    def __init__(self, strategy, model, optimizer, ema, num_classes: int, cfg, jit: str = "off", train_model=None):
        if jit not in JIT_MODES:
            raise ValueError(f"jit must be one of {JIT_MODES}, got {jit!r}")
        self.strategy, self.model, self.optimizer, self.ema = strategy, model, optimizer, ema
        self.train_model = train_model or model
        self.num_classes, self.cfg, self.jit = num_classes, cfg, jit
        self.train_calls = 0  # host calls of the train loop, in this process
        self.retrace()
        self.eval_step = self._make_eval_step()
        self.sync_statistics = self._make_sync_statistics()

    def train_loop(self, iterator, steps: int) -> dict:
        """Up to ``steps`` train steps in one call. Returns the sums of :data:`STATS` over the steps
        run, ``steps`` (how many ran), ``bad_step`` (index of the first non-finite loss, or -1),
        ``bad_loss`` and ``lr`` (the last step's), as Python numbers: the one host read of the loop."""
        self.train_calls += 1
        out = self._train_loop(iterator, tf.constant(steps, tf.int64))
        return {k: v.numpy().item() for k, v in out.items()}

    def retrace(self) -> None:
        """A fresh train loop, traced at its first call: layer settings read while tracing (a dropout
        rate) take effect."""
        self._train_loop = self._make_train_loop()

    def _batch_stats(self, per_example_loss, probs, labels, skipped):
        """Per-replica sums; reduced with SUM they give exact global means, even for uneven batches
        (and for batches of zero rows, which carry only a count of undecodable images).

        Soft (mixup/cutmix) labels count as their dominant class for top-1 and top-5.
        """
        probs = tf.cast(probs, tf.float32)
        if labels.shape.rank == 2:
            labels = tf.argmax(labels, -1, output_type=tf.int32)
        k = min(5, self.num_classes)
        return {"loss_sum": tf.reduce_sum(per_example_loss),
                "correct": tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), labels), tf.float32)),
                "correct5": tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, probs, k), tf.float32)),
                "count": tf.cast(tf.shape(labels)[0], tf.float32), "skipped": tf.cast(skipped, tf.float32)}

    def _reduce(self, stats):
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in stats.items()}

    def _make_grads(self):
        """The forward and backward pass of one replica: (scaled gradients, batch statistics)."""
        cfg, model, optimizer = self.cfg, self.train_model, self.optimizer
        loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.optimizer.label_smoothing, reduction=None)
        decay_vars = l2_variables(model)
        replicas = self.strategy.num_replicas_in_sync

        def grads_and_stats(images, labels, skipped):
            with tf.GradientTape() as tape:
                probs = model(images, training=True)
                targets = labels if labels.shape.rank == 2 else tf.one_hot(labels, self.num_classes)
                per_example = loss_fn(targets, probs)
                l2 = l2_loss(decay_vars, cfg.optimizer.weight_decay) / replicas
                loss = tf.nn.compute_average_loss(per_example) + l2
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            return grads, {**self._batch_stats(per_example, probs, labels, skipped), "l2": l2}

        return compiled(grads_and_stats) if self.jit == "grads" else grads_and_stats

    def _make_replica_step(self):
        grads_and_stats, optimizer, variables = self._make_grads(), self.optimizer, self.train_model.trainable_variables
        agree = (isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
                 and self.strategy.num_replicas_in_sync > 1)

        def replica_step(images, labels, skipped):
            grads, stats = grads_and_stats(images, labels, skipped)
            optimizer.apply(agree_on_overflow(optimizer, grads) if agree else grads, variables)
            if self.ema:
                self.ema.update()  # on this replica's own copy; sync_statistics averages its BN part
            return stats

        return compiled(replica_step) if self.jit == "step" else replica_step

    def _make_train_loop(self):
        replica_step = self._make_replica_step()

        @tf.function
        def train_loop(iterator, steps):
            sums = {k: tf.constant(0.0) for k in STATS}
            bad_step, bad_loss, lr = tf.constant(-1, tf.int64), tf.constant(0.0), tf.constant(0.0)
            for i in tf.range(steps):
                lr = tf.cast(self.optimizer.learning_rate, tf.float32)
                stats = self._reduce(self.strategy.run(replica_step, args=next(iterator)))
                sums = {k: sums[k] + stats[k] for k in STATS}
                loss = stats["loss_sum"] / stats["count"] + stats["l2"]
                first = tf.logical_and(bad_step < 0, tf.logical_not(tf.math.is_finite(loss)))
                bad_step, bad_loss = tf.where(first, i, bad_step), tf.where(first, loss, bad_loss)
            return {**sums, "steps": steps, "bad_step": bad_step, "bad_loss": bad_loss, "lr": lr}
        return train_loop

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
        model, num_classes = self.model, self.num_classes

        def replica_step(images, labels, skipped):
            # A batch of zero rows carries only a skip count: TensorFlow's CPU convolution returns its
            # input's shape for an empty batch, which BN then rejects, so the model does not see it.
            probs = tf.cond(tf.shape(images)[0] > 0, lambda: tf.cast(model(images, training=False), tf.float32),
                            lambda: tf.zeros([0, num_classes]))
            per_example = keras.losses.categorical_crossentropy(tf.one_hot(labels, num_classes), tf.cast(probs, tf.float32))
            return self._batch_stats(per_example, probs, labels, skipped)

        replica_fn = compiled(replica_step) if self.jit != "off" else replica_step
        return tf.function(lambda batch: self._reduce(self.strategy.run(replica_fn, args=batch)))
