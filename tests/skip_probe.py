"""Sums ``build_dataset``'s skip counts across 2 logical CPU replicas under MirroredStrategy, as a trainer
does (``strategy.reduce(SUM)`` per step); prints one JSON line for tests/test_skip_count.py.

    python tests/skip_probe.py SOURCE
"""
import json
import sys

import tensorflow as tf

from efficientnet_tf.data import PipelineConfig, build_dataset
from efficientnet_tf.training.inputs import epoch_seed
from efficientnet_tf.training.strategy import configure_cpu_devices


def main(source: str) -> dict:
    configure_cpu_devices(2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    def total(batches, steps=None):
        skipped = rows = 0
        for step, (images, _, count) in enumerate(batches):
            if steps is not None and step == steps:
                break
            skipped += int(strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None))
            sizes = strategy.experimental_local_results(images)
            rows += sum(int(x.shape[0]) for x in sizes)
        return skipped, rows

    def evaluation(ctx, batch):
        return build_dataset(source, "train", 16, batch, False, input_context=ctx, count_skips=True)[0]

    # Per replica 2, 5 and 6: the failures in the last partial batch, in a batch of no rows of their own,
    # and in a last batch that one replica gets while the other gets tf.distribute's empty one.
    evaluations = [total(strategy.distribute_datasets_from_function(lambda ctx, b=b: evaluation(ctx, b)))
                   for b in (4, 10, 12)]
    epochs = []
    for epoch in range(3):
        def training(ctx, seed=epoch_seed(0, epoch)):
            return build_dataset(source, "train", 16, 4, True, PipelineConfig(shuffle_buffer=18), seed=seed,
                                 input_context=ctx, repeat=True, count_skips=True)[0]
        epochs.append(total(iter(strategy.distribute_datasets_from_function(training)), steps=18 // 4)[0])
    return {"replicas": strategy.num_replicas_in_sync, "evaluations": evaluations,
            "epoch_skipped": epochs}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
